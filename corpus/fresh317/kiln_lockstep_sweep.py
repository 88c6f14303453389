"""Hop kiln: final cone moisture (%) after a drying batch.

Three learning-rate settings are trained side by side, one step each in turn,
each with its own network and its own Adam.  Halfway through, all three runs
are written to disk, the Python objects are thrown away, and the runs are
rebuilt from the files and continued.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["green_moist", "bed_cm", "air_C", "airflow", "hours", "amb_rh"]


def make_batches(n, rng):
    green = rng.uniform(72, 82, n)
    bed = rng.uniform(40, 90, n)
    air = rng.uniform(55, 68, n)
    flow = rng.uniform(0.6, 1.4, n)
    hours = rng.uniform(7, 12, n)
    rh = rng.uniform(40, 95, n)
    rate = 0.045 * (air - 40) * flow / (1 + 0.012 * bed) * (1.15 - 0.004 * rh)
    final = 8.0 + (green - 8.0) * np.exp(-rate * hours * 0.55)
    final = final + rng.normal(0, 0.35, n)
    X = np.stack([green, bed, air, flow, hours, rh], 1).astype(np.float32)
    return X, final.astype(np.float32)


class KilnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


TOTAL = 1200
HALF = 600
BATCH = 64
SETTINGS = {
    "A_lr3e-4": dict(seed=1, sched=lambda: 3e-4),
    "B_lr2e-3": dict(seed=2, sched=lambda: 2e-3),
    "C_warm": dict(seed=3, sched=lambda: optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, 150), optim.cosine_decay(4e-3, TOTAL - 150, 1e-4)], [150])),
}


def build(name):
    cfg = SETTINGS[name]
    mx.random.seed(cfg["seed"])
    model = KilnNet()
    opt = optim.Adam(learning_rate=cfg["sched"]())
    mx.eval(model.parameters())
    return model, opt


def save_run(folder, name, model, opt):
    model.save_weights(os.path.join(folder, f"{name}_model.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(folder, f"{name}_opt.safetensors"), flat)


def load_run(folder, name):
    model, opt = build(name)
    model.load_weights(os.path.join(folder, f"{name}_model.safetensors"))
    flat = mx.load(os.path.join(folder, f"{name}_opt.safetensors"))
    opt.state = tree_unflatten(list(flat.items()))
    mx.eval(model.parameters(), opt.state)
    return model, opt


def main():
    t0 = time.time()
    rng = np.random.default_rng(317)
    Xtr, ytr = make_batches(9000, rng)
    Xva, yva = make_batches(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr_s = mx.array((Xtr - mu) / sd)
    Xva_s = mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)
    base = float(np.sqrt(np.mean((yva - ytr.mean()) ** 2)))
    print(f"kiln batches: train {len(ytr)}  valid {len(yva)}  features {', '.join(FEATURES)}")
    print(f"predict-the-mean valid RMSE: {base:.3f} % moisture   reading noise sd: 0.350 %")

    runs = {name: build(name) for name in SETTINGS}
    steps = {}
    for name, (model, opt) in runs.items():
        steps[name] = nn.value_and_grad(model, loss_fn)

    # first-step leaf check for every run
    xb, yb = Xtr_s[:BATCH], ytr_m[:BATCH]
    for name, (model, opt) in runs.items():
        _, g = steps[name](model, xb, yb)
        flat = tree_flatten(g)
        zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
        print(f"[{name}] grad leaves {len(flat)}, all-zero {len(zero)}")

    def evaluate(model):
        pred = model(Xva_s)
        return float(mx.sqrt(mx.mean((pred - yva_m) ** 2)))

    tmp = tempfile.mkdtemp()
    names = list(SETTINGS)
    window = {n: [] for n in names}
    print("step  | " + " | ".join(f"{n:>10s} lr   loss" for n in names))
    perm = rng.permutation(len(ytr))
    pos = 0
    step = 0
    while step < TOTAL:
        if pos + BATCH > len(perm):
            perm = rng.permutation(len(ytr))
            pos = 0
        idx = mx.array(perm[pos:pos + BATCH])
        pos += BATCH
        xb, yb = Xtr_s[idx], ytr_m[idx]
        step += 1
        for name in names:
            model, opt = runs[name]
            loss, g = steps[name](model, xb, yb)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            window[name].append(loss.item())
        if step % 100 == 0 or step in (1, 10, 50):
            cells = []
            for name in names:
                opt = runs[name][1]
                lr = opt.learning_rate.item()
                cells.append(f"{lr:10.2e} {np.mean(window[name]):7.3f}")
                window[name] = []
            print(f"{step:5d} | " + " | ".join(cells))
        if step == HALF:
            before = {n: evaluate(runs[n][0]) for n in names}
            for name in names:
                save_run(tmp, name, *runs[name])
            runs.clear()
            runs = {name: load_run(tmp, name) for name in names}
            steps = {name: nn.value_and_grad(runs[name][0], loss_fn) for name in names}
            after = {n: evaluate(runs[n][0]) for n in names}
            for n in names:
                print(f"resumed {n}: step {int(runs[n][1].state['step'].item())}  "
                      f"valid RMSE {before[n]:.4f} -> {after[n]:.4f}")

    print("\nsetting    | valid RMSE % | within 0.5 % moist")
    best = None
    for name in names:
        model = runs[name][0]
        pred = np.array(model(Xva_s))
        rmse = float(np.sqrt(np.mean((pred - yva) ** 2)))
        within = 100.0 * float(np.mean(np.abs(pred - yva) < 0.5))
        print(f"{name:10s} | {rmse:12.3f} | {within:6.1f}%")
        if best is None or rmse < best[1]:
            best = (name, rmse)
    print(f"chosen setting {best[0]} (valid RMSE {best[1]:.3f} vs mean-predictor {base:.3f}); "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
