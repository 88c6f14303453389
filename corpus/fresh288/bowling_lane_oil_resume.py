"""Bowling-alley lane conditioning: how many boards a league ball hooks at the
breakpoint, from six lane-machine / bowler readings.

Run layout: session one trains for 300 steps and writes a checkpoint
(weights + optimizer state + a small json). Session two rebuilds the model and
the optimizer from scratch, restores everything from disk and carries on to
step 900. The learning rate warms up from exactly 0 and then follows a cosine.
"""

import json
import math
import os
import shutil
import tempfile
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_TRAIN, N_VAL = 4000, 1000
BATCH = 128
WARMUP = 120
TOTAL_STEPS = 900
SESSION_ONE_STEPS = 300
PEAK_LR = 3e-3
NOISE_BOARDS = 0.6  # lane-to-lane scatter nobody can predict

FEATURES = [
    "oil_volume_ml",
    "oil_length_ft",
    "games_since_dress",
    "rev_rate_rpm",
    "ball_speed_mph",
    "humidity_pct",
]


def make_lanes(n, rng):
    vol = rng.uniform(18.0, 30.0, n)
    length = rng.uniform(34.0, 47.0, n)
    games = rng.integers(0, 40, n).astype(np.float64)
    revs = rng.uniform(200.0, 500.0, n)
    speed = rng.uniform(14.0, 20.0, n)
    hum = rng.uniform(25.0, 75.0, n)
    # made-up hook law: dry lanes and high revs hook more, long patterns and
    # speed push the breakpoint down-lane; carry-down after many games
    # flattens the back end a little
    friction = 1.0 / (1.0 + 0.05 * (vol - 18.0)) * (1.0 + 0.012 * games)
    hook = (
        9.0 * friction * (revs / 350.0) ** 1.2
        - 0.18 * (length - 40.0)
        - 0.55 * (speed - 17.0)
        + 0.015 * (hum - 50.0) * (revs / 350.0)
        - 0.0025 * games**1.5 / (1.0 + 0.02 * vol)
    )
    hook = hook + NOISE_BOARDS * rng.standard_normal(n)
    x = np.stack([vol, length, games, revs, speed, hum], axis=1)
    return x.astype(np.float32), hook.astype(np.float32)


class HookNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(self.norm(h)))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def make_schedule():
    warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
    decay = optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, end=PEAK_LR * 0.02)
    return optim.join_schedules([warm, decay], [WARMUP])


def build(d_in):
    model = HookNet(d_in)
    opt = optim.AdamW(learning_rate=make_schedule(), weight_decay=1e-4)
    return model, opt


def batches(n, rng):
    perm = rng.permutation(n)
    for i in range(0, n - BATCH + 1, BATCH):
        yield perm[i : i + BATCH]


def val_rmse(model, xv, yv):
    err = model(xv) - yv
    return math.sqrt(mx.mean(err * err).item())


def run_steps(model, opt, xt, yt, xv, yv, start, stop, rng, log_every):
    step_fn = nn.value_and_grad(model, mse)
    step = start
    running = []
    while step < stop:
        for idx in batches(xt.shape[0], rng):
            if step >= stop:
                break
            ids = mx.array(idx)
            loss, grads = step_fn(model, xt[ids], yt[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            running.append(loss.item())
            step += 1
            if step % log_every == 0 or step == stop:
                print(
                    f"step {step:4d}  lr {opt.learning_rate.item():.2e}  "
                    f"train_mse {np.mean(running):.4f}  val_rmse {val_rmse(model, xv, yv):.4f} boards"
                )
                running = []
    return step


def save_checkpoint(folder, model, opt, step, data_state):
    model.save_weights(os.path.join(folder, "hooknet.safetensors"))
    mx.save_safetensors(
        os.path.join(folder, "adamw_state.safetensors"), dict(tree_flatten(opt.state))
    )
    with open(os.path.join(folder, "progress.json"), "w") as fh:
        json.dump({"step": step, "data_rng": data_state}, fh)


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "hooknet.safetensors"), strict=True)
    state = mx.load(os.path.join(folder, "adamw_state.safetensors"))
    opt.state = tree_unflatten(list(state.items()))
    with open(os.path.join(folder, "progress.json")) as fh:
        meta = json.load(fh)
    return meta["step"], meta["data_rng"]


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    x_tr, y_tr = make_lanes(N_TRAIN, rng)
    x_va, y_va = make_lanes(N_VAL, rng)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    xt = mx.array((x_tr - mu) / sd)
    xv = mx.array((x_va - mu) / sd)
    yt, yv = mx.array(y_tr), mx.array(y_va)

    base_rmse = float(np.sqrt(np.mean((y_va - y_tr.mean()) ** 2)))
    print(f"lanes: train {N_TRAIN}  val {N_VAL}  features {FEATURES}")
    print(f"baseline (predict mean hook) val_rmse {base_rmse:.4f} boards; noise floor ~{NOISE_BOARDS:.2f}")

    ckpt_dir = tempfile.mkdtemp(prefix="lane_ckpt_")

    # ---- session one ----
    mx.random.seed(SEED)
    model, opt = build(xt.shape[1])
    mx.eval(model.parameters())
    print(f"session 1: lr at step 0 = {make_schedule()(mx.array(0)).item():.2e}")
    data_rng = np.random.default_rng(SEED + 1)
    step = run_steps(model, opt, xt, yt, xv, yv, 0, SESSION_ONE_STEPS, data_rng, log_every=50)
    before = val_rmse(model, xv, yv)
    lr_before = opt.learning_rate.item()
    save_checkpoint(ckpt_dir, model, opt, step, int(data_rng.integers(1 << 30)))
    print(f"checkpoint written at step {step} ({sorted(os.listdir(ckpt_dir))})")
    del model, opt

    # ---- session two: everything rebuilt, then restored ----
    mx.random.seed(SEED + 99)
    model, opt = build(xt.shape[1])
    mx.eval(model.parameters())
    fresh = val_rmse(model, xv, yv)
    step, data_seed = load_checkpoint(ckpt_dir, model, opt)
    after = val_rmse(model, xv, yv)
    print(
        f"session 2: fresh-init val_rmse {fresh:.4f} -> restored {after:.4f} "
        f"(session 1 ended at {before:.4f}); optimizer step {int(opt.state['step'].item())}"
    )
    data_rng = np.random.default_rng(data_seed)
    # first update after restore must continue the schedule, not restart it
    step = run_steps(model, opt, xt, yt, xv, yv, step, step + 1, data_rng, log_every=1)
    print(f"lr at end of session 1 {lr_before:.3e}, lr after first resumed step {opt.learning_rate.item():.3e}")
    # long quiet stretch: only a few lines until the end
    step = run_steps(model, opt, xt, yt, xv, yv, step, TOTAL_STEPS, data_rng, log_every=200)

    final = val_rmse(model, xv, yv)
    print(f"final val_rmse {final:.4f} boards vs baseline {base_rmse:.4f} (noise floor {NOISE_BOARDS:.2f})")
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    print(f"final learning rate {opt.learning_rate.item():.2e}; wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
