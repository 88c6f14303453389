"""Fountain-pen ink drying time (seconds) on paper, regressed from 6 lab readings.

Step 1: a learning-rate range test ("LR finder") on a throw-away copy of the
        network: the learning rate grows exponentially every step until the
        smoothed loss blows up.  That blow-up is expected - it is how the
        upper end of the usable range is found.
Step 2: brand-new weights (different seed), SGD with momentum at one tenth of
        the learning rate where the finder's smoothed loss was lowest, with a
        compiled train step that carries model and optimizer state.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["paper_gsm", "sizing_index", "ink_viscosity", "nib_flow", "room_temp_c", "rel_humidity"]


def make_data(n, seed):
    rng = np.random.default_rng(seed)
    gsm = rng.uniform(60, 140, n)
    sizing = rng.uniform(0.0, 1.0, n)
    visc = rng.lognormal(0.0, 0.3, n)
    flow = rng.uniform(0.5, 2.0, n)
    temp = rng.uniform(15, 30, n)
    rh = rng.uniform(25, 85, n)
    # made-up drying law: wetter line and sized/heavy paper dry slower, warm dry air faster
    wet = flow * (1.0 + 0.4 * visc)
    t = (4.0 + 9.0 * wet * (0.6 + sizing) * (gsm / 100.0) ** 0.5
         * np.exp(0.018 * (rh - 50)) * np.exp(-0.04 * (temp - 22)))
    t = t + rng.normal(0, 0.8, n)
    X = np.stack([gsm, sizing, visc, flow, temp, rh], axis=1)
    return X.astype(np.float32), t.astype(np.float32)


class DryNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def lr_range_test(Xtr, ytr, lr_min=1e-5, lr_max=3.0, steps=160, bs=64, beta=0.9):
    mx.random.seed(999)
    probe = DryNet(Xtr.shape[1])
    mx.eval(probe.parameters())
    opt = optim.SGD(learning_rate=lr_min, momentum=0.9)
    vg = nn.value_and_grad(probe, mse)
    rng = np.random.default_rng(3)
    mult = (lr_max / lr_min) ** (1.0 / (steps - 1))
    lr, avg, best, best_lr = lr_min, 0.0, math.inf, lr_min
    rows = []
    it = iter(())
    for s in range(1, steps + 1):
        idx = next(it, None)
        if idx is None:
            it = batches(len(ytr), bs, rng)
            idx = next(it)
        opt.learning_rate = lr
        loss, grads = vg(probe, Xtr[idx], ytr[idx])
        opt.update(probe, grads)
        mx.eval(probe.parameters(), opt.state, loss)
        raw = loss.item()
        avg = beta * avg + (1 - beta) * raw
        smooth = avg / (1 - beta ** s)          # bias-corrected running loss
        rows.append((s, lr, smooth))
        if smooth < best:
            best, best_lr = smooth, lr
        if not math.isfinite(smooth) or smooth > 4 * best:
            break                               # blew up: end of the usable range
        lr *= mult
    return rows, best, best_lr


def main():
    t0 = time.time()
    X, y = make_data(12000, seed=7)
    Xtr, ytr, Xva, yva = X[:10000], y[:10000], X[10000:], y[10000:]
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr = mx.array((Xtr - mu) / sd)
    Xva = mx.array((Xva - mu) / sd)
    ytr_s = mx.array((ytr - ymu) / ysd)
    yva_np = yva
    print(f"ink drying data: {len(ytr)} train / {len(yva)} validation strokes, "
          f"target mean {ymu:.2f} s, sd {ysd:.2f} s, noise sd 0.80 s")
    print(f"predict-the-mean validation RMSE: {float(np.sqrt(np.mean((yva_np - ymu) ** 2))):.3f} s")

    # ---- step 1: learning-rate range test on a throw-away model ----
    rows, best, best_lr = lr_range_test(Xtr, ytr_s)
    print("\nLR range test (throw-away weights, smoothed loss in standardised units)")
    print(f"{'step':>5} {'lr':>10} {'smoothed_mse':>13}")
    shown = set(range(0, len(rows), 20)) | {len(rows) - 2, len(rows) - 1}
    for i, (s, lr, sm) in enumerate(rows):
        if i in shown and i >= 0:
            print(f"{s:5d} {lr:10.2e} {sm:13.4f}")
    lr_use = best_lr / 10.0
    print(f"stopped after {len(rows)} steps; lowest smoothed mse {best:.4f} at lr {best_lr:.2e}"
          f" -> training lr {lr_use:.2e}")

    # ---- step 2: the real run, fresh weights ----
    mx.random.seed(2024)
    model = DryNet(Xtr.shape[1])
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=lr_use, momentum=0.9)
    vg = nn.value_and_grad(model, mse)

    _, g0 = vg(model, Xtr[:64], ytr_s[:64])
    leaves = tree_flatten(g0)
    zero = [k for k, g in leaves if not bool(mx.any(g != 0).item())]
    print(f"\nreal run: {len(leaves)} parameter leaves, "
          f"{len(leaves) - len(zero)} with non-zero first-step gradient {zero if zero else ''}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    def val_rmse_s():
        pred = np.array(model(Xva)) * ysd + ymu
        return float(np.sqrt(np.mean((pred - yva_np) ** 2)))

    print(f"{'epoch':>5} {'train_mse(std)':>15} {'val_rmse_s':>11} {'within_1s':>10} {'secs':>6}")
    print(f"{0:5d} {'-':>15} {val_rmse_s():11.3f} {'-':>10} {time.time() - t0:6.1f}")
    rng = np.random.default_rng(17)
    for epoch in range(1, 11):
        tot, nb = 0.0, 0
        for idx in batches(len(ytr), 64, rng):
            loss = train_step(Xtr[idx], ytr_s[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        pred = np.array(model(Xva)) * ysd + ymu
        within = 100.0 * float(np.mean(np.abs(pred - yva_np) < 1.0))
        print(f"{epoch:5d} {tot / nb:15.4f} {val_rmse_s():11.3f} {within:9.1f}% {time.time() - t0:6.1f}")
    print(f"done: validation RMSE {val_rmse_s():.3f} s against a 0.80 s noise floor")


if __name__ == "__main__":
    main()
