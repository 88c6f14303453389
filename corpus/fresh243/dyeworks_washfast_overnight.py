"""Tapestry dye works: predict colour change (delta-E) after 20 wash cycles.

Two training sessions with a checkpoint in between, the way the overnight
job on the workshop Mac is run: session 1 trains, writes weights + optimizer
state + step to disk, exits; session 2 rebuilds everything, loads the files
and carries on from the saved step.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["bath_temp_c", "dye_g_per_kg", "mordant_pct", "ph", "dwell_min",
            "fibre_wool_share", "rinse_count"]


def make_batches(n, rng):
    temp = rng.uniform(60, 98, n)
    dye = rng.uniform(0.5, 6.0, n)
    mord = rng.uniform(0.0, 15.0, n)
    ph = rng.uniform(3.0, 7.5, n)
    dwell = rng.uniform(15, 120, n)
    wool = rng.uniform(0.0, 1.0, n)
    rinse = rng.integers(1, 6, n).astype(np.float64)
    fixation = (1 - np.exp(-dwell / 45)) * (0.4 + 0.6 * wool) * (1 - np.exp(-mord / 4))
    fixation *= 1 / (1 + np.exp((ph - 5.2) * 1.6)) * (0.3 + 0.7 * (temp - 60) / 38)
    excess = dye * (1 - fixation) / (1 + 0.35 * rinse)
    de = 0.6 + 2.4 * excess + 0.15 * dye + rng.normal(0, 0.35, n)
    X = np.stack([temp, dye, mord, ph, dwell, wool, rinse], 1)
    return X.astype(np.float32), np.maximum(de, 0.05).astype(np.float32)


class FastnessNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


def build_schedule(peak, warm, every):
    # ramp from exactly zero, then halve every `every` steps
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.step_decay(peak, 0.5, every)],
        [warm])


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def run_session(tag, start, stop, ckpt_dir, data, resume):
    Xtr, ytr, Xva, yva, mu, sd, ymu, ysd = data
    mx.random.seed(11)
    model = FastnessNet(Xtr.shape[1])
    opt = optim.Lion(learning_rate=build_schedule(3e-4, 80, 500), weight_decay=1e-3)
    if resume:
        model.load_weights(os.path.join(ckpt_dir, "model.safetensors"))
        opt.init(model.trainable_parameters())
        saved = mx.load(os.path.join(ckpt_dir, "optim.safetensors"))
        opt.state = tree_unflatten(list(saved.items()))
        start = int(opt.state["step"].item())
    mx.eval(model.parameters())
    grad_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(1000 + start)
    xv, yv = mx.array((Xva - mu) / sd), mx.array((yva - ymu) / ysd)
    base_mae = float(np.mean(np.abs(yva - np.median(ytr))))
    window = []
    t0 = time.time()
    for step in range(start, stop):
        idx = rng.integers(0, len(Xtr), 128)
        xb = mx.array((Xtr[idx] - mu) / sd)
        yb = mx.array((ytr[idx] - ymu) / ysd)
        lr_now = opt.learning_rate.item()
        loss, g = grad_fn(model, xb, yb)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if (step + 1) % 100 == 0 or step == start:
            pred = model(xv) * ysd + ymu
            mae = mx.mean(mx.abs(pred - mx.array(yva))).item()
            print(f"{tag:>9} {step + 1:5d} {lr_now:9.2e} {np.mean(window):9.4f} "
                  f"{mae:8.3f} {base_mae:8.3f}  {time.time() - t0:5.1f}s")
            window = []
    if not resume:
        model.save_weights(os.path.join(ckpt_dir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "optim.safetensors"),
                            dict(tree_flatten(opt.state)))
        print(f"{tag:>9} checkpoint written at step {stop} "
              f"({len(tree_flatten(opt.state))} optimizer arrays)")
    pred = model(xv) * ysd + ymu
    return mx.mean(mx.abs(pred - mx.array(yva))).item()


def main():
    rng = np.random.default_rng(5)
    Xtr, ytr = make_batches(12000, rng)
    Xva, yva = make_batches(2000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = ytr.mean(), ytr.std()
    data = (Xtr, ytr, Xva, yva, mu, sd, ymu, ysd)
    print(f"dye lots: train {len(Xtr)}, check {len(Xva)}; features: {', '.join(FEATURES)}")
    print(f"{'session':>9} {'step':>5} {'lr':>9} {'huber':>9} {'mae_dE':>8} {'median':>8}")
    with tempfile.TemporaryDirectory() as ckpt:
        run_session("overnight", 0, 1000, ckpt, data, resume=False)
        final = run_session("morning", 1000, 2000, ckpt, data, resume=True)
    print(f"final check-set MAE {final:.3f} dE (median-lot guess "
          f"{np.mean(np.abs(yva - np.median(ytr))):.3f}, noise floor ~0.28)")


if __name__ == "__main__":
    main()
