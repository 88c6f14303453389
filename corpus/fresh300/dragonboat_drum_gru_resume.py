"""Dragon boat crew analysis: boat speed over the next 100 m from the last 16 strokes.

Each sample is 16 strokes x 4 channels logged by the boat's stroke meter:
stroke rate (spm, centred), paddle force index, surge acceleration, and the
drummer/paddler sync offset (ms, scaled).  Target: mean boat speed (m/s) over
the following 100 m.

Training: GRU(4 -> 32) + linear head, AdaDelta under a warm-up (from lr 0) +
cosine schedule counted in OPTIMIZER UPDATES, 4 micro-batches accumulated per
update.  The run is split in two sittings: after 90 updates the weights and
optimizer state are written to disk, everything is deleted, and a fresh model
and optimizer pick up from the files.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

STEPS = 16
N_TRAIN, N_VAL = 6000, 1000
MICRO_BATCH = 32
ACCUM = 4
UPDATES = 180
SPLIT_AT = 90
WARMUP = 30
REPORT_EVERY = 15


def make_crews(n, rng):
    rate = rng.normal(0.0, 1.0, size=(n, 1))                     # crew's base rate
    power = rng.gamma(4.0, 0.25, size=(n, 1))                    # crew strength
    sync = np.abs(rng.normal(0.0, 1.0, size=(n, 1)))             # timing sloppiness
    fatigue = rng.uniform(0.0, 0.04, size=(n, 1))
    t = np.arange(STEPS)[None, :]
    rate_seq = rate + 0.15 * rng.normal(size=(n, STEPS))
    force_seq = power * (1.0 - fatigue * t) + 0.10 * rng.normal(size=(n, STEPS))
    sync_seq = sync * (1.0 + 0.5 * np.sin(t / 3.0)) + 0.20 * rng.normal(size=(n, STEPS))
    surge_seq = 0.6 * force_seq - 0.25 * sync_seq + 0.10 * rate_seq + 0.15 * rng.normal(size=(n, STEPS))
    x = np.stack([rate_seq, force_seq, surge_seq, sync_seq], axis=-1).astype(np.float32)
    last = force_seq[:, -5:].mean(axis=1)
    speed = (
        3.6
        + 0.55 * last
        + 0.12 * rate[:, 0]
        - 0.30 * sync[:, 0]
        - 6.0 * fatigue[:, 0]
        + 0.08 * rng.normal(size=n)
    )
    return x, speed.astype(np.float32)


class StrokeReader(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.gru = nn.GRU(4, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.gru(x)
        return self.head(h[:, -1, :]).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def build_schedule():
    warm = optim.linear_schedule(0.0, 1.0, WARMUP)
    cosine = optim.cosine_decay(1.0, UPDATES - WARMUP, 0.05)
    return optim.join_schedules([warm, cosine], [WARMUP])


def val_mae(model, xv, yv, y_mean, y_std):
    pred = model(xv) * y_std + y_mean
    return mx.mean(mx.abs(pred - yv)).item()


def main():
    rng = np.random.default_rng(2024)
    xtr, ytr = make_crews(N_TRAIN, rng)
    xva, yva = make_crews(N_VAL, rng)
    y_mean, y_std = float(ytr.mean()), float(ytr.std())
    xtr_m, ytr_m = mx.array(xtr), mx.array((ytr - y_mean) / y_std)
    xva_m, yva_m = mx.array(xva), mx.array(yva)
    baseline = float(np.abs(yva - y_mean).mean())
    print(f"crews: train {N_TRAIN}  val {N_VAL}  strokes per sample {STEPS}")
    print(f"speed mean {y_mean:.3f} m/s  sd {y_std:.3f}  predict-the-mean val MAE {baseline:.3f} m/s")

    ckpt_dir = tempfile.mkdtemp(suffix="_dragonboat")
    w_path = os.path.join(ckpt_dir, "weights.safetensors")
    o_path = os.path.join(ckpt_dir, "optimizer.safetensors")
    batch_rng = np.random.default_rng(7)

    print("sitting\tupdate\tmicro\tlr\ttrain_mse_z\tval_mae_mps\tmean_guess_mps\tsecs")
    t0 = time.time()
    micro = 0
    for sitting in (1, 2):
        mx.random.seed(11 if sitting == 1 else 99)
        model = StrokeReader()
        sched = build_schedule()
        opt = optim.AdaDelta(learning_rate=sched, rho=0.9, eps=1e-6)
        if sitting == 2:
            model.load_weights(w_path)
            opt.state = tree_unflatten(list(mx.load(o_path).items()))
            start = int(opt.state["step"].item())
            print(f"# sitting 2: fresh objects, loaded {w_path.split(os.sep)[-1]} and "
                  f"optimizer state, update counter {start}, next lr {sched(opt.step).item():.4f}")
        else:
            mx.eval(model.parameters())
            start = 0
        stop = SPLIT_AT if sitting == 1 else UPDATES
        grad_fn = nn.value_and_grad(model, loss_fn)
        window = []
        for upd in range(start, stop):
            acc = None
            for _ in range(ACCUM):
                idx = mx.array(batch_rng.integers(0, N_TRAIN, size=MICRO_BATCH))
                loss, grads = grad_fn(model, xtr_m[idx], ytr_m[idx])
                acc = grads if acc is None else tree_map(lambda a, b: a + b, acc, grads)
                mx.eval(loss, acc)
                window.append(loss.item())
                micro += 1
            acc = tree_map(lambda g: g / ACCUM, acc)
            lr_used = sched(opt.step).item()
            if upd == 0:
                before = [p for _, p in tree_flatten(model.trainable_parameters())]
                before = [mx.array(p) for p in before]
            opt.update(model, acc)
            mx.eval(model.parameters(), opt.state)
            if upd == 0:
                after = [p for _, p in tree_flatten(model.trainable_parameters())]
                moved = max(mx.max(mx.abs(a - b)).item() for a, b in zip(after, before))
                print(f"# update 1 applied lr {lr_used:.4f}; largest weight change {moved:.6f}")
            if (upd + 1) % REPORT_EVERY == 0 or upd + 1 == stop:
                mae = val_mae(model, xva_m, yva_m, y_mean, y_std)
                print(f"{sitting}\t{upd + 1}\t{micro}\t{lr_used:.4f}\t{np.mean(window):.4f}\t"
                      f"{mae:.4f}\t{baseline:.4f}\t{time.time() - t0:.1f}")
                window = []
        if sitting == 1:
            model.save_weights(w_path)
            mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
            held = val_mae(model, xva_m, yva_m, y_mean, y_std)
            print(f"# sitting 1 written at update {stop}; val MAE {held:.4f} m/s")
            del model, opt, grad_fn

    final = val_mae(model, xva_m, yva_m, y_mean, y_std)
    print(f"done: {UPDATES} updates ({micro} micro-batches), val MAE {final:.4f} m/s "
          f"vs mean guess {baseline:.4f} m/s, label noise 0.080 m/s")


if __name__ == "__main__":
    main()
