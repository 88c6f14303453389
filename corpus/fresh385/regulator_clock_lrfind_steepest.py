"""Beat error of a regulator clock from a short microphone trace of tick-tock.

A Tuner runs a learning-rate finder first (rate swept upward, smoothed loss,
suggestion at the steepest descent), restores the starting weights, then the
trainer fits with SGD + Nesterov momentum and a multi-step decay.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

L = 96  # samples per trace


def make_traces(n, rng):
    beat_ms = rng.uniform(-6.0, 6.0, n)  # beat error in ms (tock early or late)
    period = rng.uniform(47.0, 49.0, n)   # samples between tick and tock when in beat
    t = np.arange(L)[None, :]
    onset = rng.uniform(5.0, 7.0, n)[:, None]
    tock = onset + period[:, None] / 2 + beat_ms[:, None] * 2.0  # 2 samples per ms
    amp1 = rng.uniform(0.7, 1.3, n)[:, None]
    amp2 = rng.uniform(0.5, 1.1, n)[:, None]
    ring = rng.uniform(0.15, 0.35, n)[:, None]

    def click(c, a):
        d = t - c
        return a * np.where(d >= 0, np.exp(-d * ring) * (1.0 + 0.3 * np.sin(1.9 * d)), 0.0)

    sig = click(onset, amp1) + click(tock, amp2) + click(onset + period[:, None], amp1 * 0.9)
    sig = sig + rng.normal(0, 0.08, sig.shape)
    y = beat_ms + rng.normal(0, 0.25, n)  # timing-rig noise
    return sig[..., None].astype(np.float32), y.astype(np.float32)


class BeatNet(nn.Module):
    """Rectified trace into an MLP; output in units of 3 ms."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(L, 128)
        self.fc2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = mx.abs(x.squeeze(-1))
        h = nn.relu(self.fc1(h))
        h = nn.relu(self.fc2(h))
        return 3.0 * self.out(h).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


class Tuner:
    def __init__(self, model, x, y, batch, rng):
        self.model, self.x, self.y, self.batch, self.rng = model, x, y, batch, rng

    def lr_find(self, min_lr=1e-5, max_lr=1.0, num_training=100, beta=0.98, early_stop=4.0):
        start = tree_map(lambda a: mx.array(a), self.model.parameters())
        opt = optim.SGD(learning_rate=min_lr, momentum=0.9, nesterov=True)
        lg = nn.value_and_grad(self.model, mse)
        ratio = (max_lr / min_lr) ** (1.0 / (num_training - 1))
        lrs, smooth, avg, best = [], [], 0.0, math.inf
        for i in range(num_training):
            lr = min_lr * ratio ** i
            opt.learning_rate = lr
            idx = mx.array(self.rng.integers(0, len(self.y), self.batch))
            loss, g = lg(self.model, self.x[idx], self.y[idx])
            opt.update(self.model, g)
            mx.eval(self.model.parameters(), opt.state, loss)
            avg = beta * avg + (1 - beta) * float(loss)
            s = avg / (1 - beta ** (i + 1))
            lrs.append(lr)
            smooth.append(s)
            best = min(best, s)
            if i > 10 and (s > early_stop * best or not math.isfinite(s)):
                print(f"LR finder stopped early after {i + 1} steps due to diverging loss.")
                break
        self.model.update(start)  # back to the starting weights
        mx.eval(self.model.parameters())
        skip_begin, skip_end = 10, 1
        ls = np.array(smooth[skip_begin:-skip_end])
        grad = np.gradient(ls)
        k = int(np.argmin(grad)) + skip_begin
        return np.array(lrs), np.array(smooth), k


def ascii_plot(lrs, losses, k, width=60, height=14):
    lx = np.log10(lrs)
    lo, hi = losses.min(), min(losses.max(), losses[0] * 1.5)
    grid = [[" "] * width for _ in range(height)]
    for i, (a, b) in enumerate(zip(lx, losses)):
        c = int((a - lx[0]) / (lx[-1] - lx[0] + 1e-12) * (width - 1))
        r = height - 1 - int((min(b, hi) - lo) / (hi - lo + 1e-12) * (height - 1))
        grid[r][c] = "S" if i == k else ("*" if grid[r][c] == " " else grid[r][c])
    print(f"  smoothed loss {hi:8.3f} +")
    for row in grid:
        print("                       |" + "".join(row))
    print(f"                {lo:8.3f} +" + "-" * width)
    print(f"                    lr {lrs[0]:.0e}" + " " * (width - 12) + f"{lrs[-1]:.0e}")


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_traces(5000, rng)
    xva, yva = make_traces(1000, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    base = float(mx.abs(yva - ytr.mean()).mean())
    print(f"traces: 5000 train / 1000 val, {L} samples each; beat error range +-6 ms")
    print(f"reference: predict-the-mean val MAE = {base:.3f} ms; timing-rig noise sd 0.25 ms")

    model = BeatNet()
    mx.eval(model.parameters())
    tuner = Tuner(model, xtr, ytr, batch=64, rng=rng)
    t0 = time.perf_counter()
    lrs, sm, k = tuner.lr_find()
    print(f"Finding best initial lr: {len(lrs)} steps in {time.perf_counter() - t0:.1f}s")
    for i in range(0, len(lrs), 12):
        print(f"  sweep step {i:3d}  lr {lrs[i]:.2e}  smoothed mse {sm[i]:12.4f}")
    if (len(lrs) - 1) % 12:
        print(f"  sweep step {len(lrs) - 1:3d}  lr {lrs[-1]:.2e}  smoothed mse {sm[-1]:12.4f}")
    ascii_plot(lrs, sm, k)
    lr0 = float(lrs[k])
    print(f"Learning rate set to {lr0:.3e} (steepest descent of the smoothed loss, step {k})")

    check = float(mse(model, xva, yva))
    print(f"weights restored after the sweep: val mse {check:.3f}")

    epochs, bs = 20, 64
    milestones = {12: 0.1, 17: 0.1}
    opt = optim.SGD(learning_rate=lr0, momentum=0.9, nesterov=True, weight_decay=1e-4)
    lg = nn.value_and_grad(model, mse)
    n = xtr.shape[0]
    print(f"{'epoch':>5} {'lr':>10} {'train_mse':>10} {'val_mae_ms':>11} {'secs':>6}")
    for ep in range(1, epochs + 1):
        if ep in milestones:
            opt.learning_rate = opt.learning_rate * milestones[ep]
        t0 = time.perf_counter()
        perm = rng.permutation(n)
        tot = 0.0
        nb = n // bs
        for b in range(nb):
            idx = mx.array(perm[b * bs:(b + 1) * bs])
            loss, g = lg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss)
        mae = float(mx.abs(model(xva) - yva).mean())
        print(f"{ep:5d} {float(opt.learning_rate):10.3e} {tot / nb:10.4f} {mae:11.4f} {time.perf_counter() - t0:6.2f}")
    print(f"final val MAE {mae:.3f} ms vs predict-the-mean {base:.3f} ms (noise floor ~0.20 ms)")


if __name__ == "__main__":
    main()
