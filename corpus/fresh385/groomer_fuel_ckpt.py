"""Snow-groomer fleet: fuel burn (litres/hour) of a grooming shift regressed
from 7 telemetry readings.  The run checkpoints every 100 steps (weights,
optimizer state, batch-sampler state, a CSV of validation predictions for the
grooming office) and keeps the last three.  The job is pre-empted once and
restarts from its newest checkpoint, replaying the steps it lost.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["slope_deg", "snow_density", "new_snow_cm", "tiller_depth", "blade_load", "air_temp", "winch_on"]
TOTAL_STEPS = 800
CKPT_EVERY = 100
KEEP = 3
PREEMPT_AT = 470


def simulate(rng, n):
    slope = rng.uniform(0, 35, n)
    dens = rng.uniform(80, 450, n)
    new = rng.gamma(1.5, 8.0, n)
    till = rng.uniform(0, 12, n)
    blade = rng.uniform(0, 1, n)
    temp = rng.uniform(-25, 5, n)
    winch = (rng.uniform(size=n) < 0.3).astype(float)
    burn = (
        14 + 0.5 * slope * (1 - 0.6 * winch) + 0.012 * dens * (1 + 0.04 * till)
        + 3.0 * np.sqrt(new) * blade + 4.5 * winch * slope / 35 - 0.08 * temp
        + 2.0 * np.sin(slope / 6.0) * blade
    )
    burn = burn * np.exp(rng.normal(0, 0.03, n))
    X = np.stack([slope, dens, new, till, blade, temp, winch], 1).astype(np.float32)
    return X, burn.astype(np.float32)


class BurnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATURES), 96)
        self.l2 = nn.Linear(96, 96)
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h)[:, 0]


class Preempted(RuntimeError):
    pass


def make_opt():
    return optim.AdamW(learning_rate=optim.cosine_decay(2e-3, TOTAL_STEPS, 5e-5), weight_decay=1e-4)


def save_ckpt(root, step, model, opt, sampler, valid_pred, valid_y):
    t = time.perf_counter()
    d = os.path.join(root, f"step{step:05d}")
    os.makedirs(d)
    model.save_weights(os.path.join(d, "model.safetensors"))
    mx.save_safetensors(os.path.join(d, "opt.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(d, "sampler.json"), "w") as f:
        json.dump({"step": step, "rng": sampler.bit_generator.state}, f)
    with open(os.path.join(d, "valid_predictions.csv"), "w") as f:
        f.write("shift,observed_lph,predicted_lph\n")
        for i, (o, p) in enumerate(zip(valid_y.tolist(), valid_pred.tolist())):
            f.write(f"{i},{o:.3f},{p:.3f}\n")
    kept = sorted(os.listdir(root))
    for old in kept[:-KEEP]:
        shutil.rmtree(os.path.join(root, old))
    return time.perf_counter() - t, kept[-KEEP:]


def load_latest(root):
    last = sorted(os.listdir(root))[-1]
    d = os.path.join(root, last)
    model = BurnNet()
    model.load_weights(os.path.join(d, "model.safetensors"))
    opt = make_opt()
    opt.state = tree_unflatten(list(mx.load(os.path.join(d, "opt.safetensors")).items()))
    with open(os.path.join(d, "sampler.json")) as f:
        meta = json.load(f)
    sampler = np.random.default_rng()
    sampler.bit_generator.state = meta["rng"]
    mx.eval(model.parameters(), opt.state)
    return model, opt, sampler, meta["step"]


def run(root, Xtr, ytr, Xva, yva, y_mu, y_sd, model, opt, sampler, start, preempt, history):
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
    win = []
    t_win = time.perf_counter()
    for step in range(start + 1, TOTAL_STEPS + 1):
        idx = mx.array(sampler.integers(0, Xtr.shape[0], 128))
        loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        win.append(loss.item())
        history.setdefault(step, []).append(win[-1])
        if step % 50 == 0:
            pred = model(Xva[:8000]) * y_sd + y_mu
            mae = float(mx.mean(mx.abs(pred - yva[:8000])))
            print(f"step {step:5d}  lr {float(opt.learning_rate):.2e}  train mse(z) {np.mean(win):.4f}  "
                  f"valid mae(8k) {mae:.3f} L/h  {1000 * (time.perf_counter() - t_win) / len(win):.1f} ms/step", flush=True)
            win, t_win = [], time.perf_counter()
        if step % CKPT_EVERY == 0:
            pred = np.array(model(Xva) * y_sd + y_mu)
            secs, kept = save_ckpt(root, step, model, opt, sampler, pred, np.array(yva))
            print(f"  checkpoint step {step} written in {secs:.2f}s; kept {', '.join(kept)}", flush=True)
            t_win = time.perf_counter()
        if preempt and step == PREEMPT_AT:
            raise Preempted(f"node reclaimed at step {step}")
    return model


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    X, y = simulate(rng, 140000)
    n_va = 40000
    mu, sd = X[:-n_va].mean(0), X[:-n_va].std(0)
    y_mu, y_sd = float(y[:-n_va].mean()), float(y[:-n_va].std())
    Xtr = mx.array((X[:-n_va] - mu) / sd)
    ytr = mx.array((y[:-n_va] - y_mu) / y_sd)
    Xva, yva = mx.array((X[-n_va:] - mu) / sd), mx.array(y[-n_va:])
    base = float(np.mean(np.abs(y[-n_va:] - np.median(y[:-n_va]))))
    print(f"fleet log: {Xtr.shape[0]} train / {n_va} valid shifts; median-guess valid mae {base:.3f} L/h")

    root = tempfile.mkdtemp(prefix="groomer_ckpt_")
    history = {}
    model, opt = BurnNet(), make_opt()
    mx.eval(model.parameters())
    sampler = np.random.default_rng(11)
    try:
        run(root, Xtr, ytr, Xva, yva, y_mu, y_sd, model, opt, sampler, 0, True, history)
    except Preempted as e:
        print(f"!! {e}; restarting from newest checkpoint", flush=True)
        del model, opt, sampler
        model, opt, sampler, start = load_latest(root)
        print(f"resumed at step {start} (optimizer step {int(opt.state['step'])}); replaying steps {start + 1}-{PREEMPT_AT}")
        model = run(root, Xtr, ytr, Xva, yva, y_mu, y_sd, model, opt, sampler, start, False, history)

    replayed = [s for s, v in history.items() if len(v) == 2]
    drift = max(abs(history[s][0] - history[s][1]) for s in replayed)
    print(f"replayed {len(replayed)} steps; max loss difference first vs replay {drift:.2e}")
    pred = model(Xva) * y_sd + y_mu
    mae = float(mx.mean(mx.abs(pred - yva)))
    within = float(mx.mean((mx.abs(pred - yva) < 1.0).astype(mx.float32))) * 100
    shutil.rmtree(root)
    print(f"final: valid mae {mae:.3f} L/h (median guess {base:.3f}); within 1 L/h {within:.1f}%; "
          f"wall {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
