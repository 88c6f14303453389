"""Supermarket scanner: read one EAN-13 left-half digit from a blurred,
noisy 1-D laser scanline (channels-last Conv1d in MLX).

First an LR range test on a throwaway copy of the network (exponential
sweep, stopped once the smoothed loss has clearly blown up), then the real
run from fresh weights at a tenth of the sweep's best learning rate.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L_CODES = ["0001101", "0011001", "0010011", "0111101", "0100011",
           "0110001", "0101111", "0111011", "0110111", "0001011"]
G_CODES = ["".join("1" if b == "0" else "0" for b in code)[::-1] for code in L_CODES]
WIN = 36
rng = np.random.default_rng(2024)


def scanlines(n):
    digits = rng.integers(0, 10, n)
    parity = rng.random(n) < 0.5            # L or G code set
    out = np.zeros((n, WIN), np.float32)
    grid = np.arange(WIN, dtype=np.float64)
    for i in range(n):
        code = (G_CODES if parity[i] else L_CODES)[digits[i]]
        mods = np.array([0, 0] + [int(c) for c in code] + [0, 0], np.float64)
        w = rng.uniform(3.0, 4.5)               # samples per module
        start = (WIN - w * len(mods)) / 2 + rng.uniform(-1.5, 1.5)
        pos = (grid - start) / w
        k = np.clip(np.floor(pos).astype(int), 0, len(mods) - 1)
        sig = np.where((pos >= 0) & (pos < len(mods)), mods[k], 0.0)
        s = rng.uniform(0.8, 1.6)               # optics blur
        ker = np.exp(-0.5 * (np.arange(-4, 5) / s) ** 2)
        sig = np.convolve(sig, ker / ker.sum(), mode="same")
        sig = rng.uniform(0.6, 1.2) * sig + rng.uniform(-0.2, 0.2)
        out[i] = sig + rng.normal(0, 0.06, WIN)
    return out, digits.astype(np.int32)


x_tr, y_tr = scanlines(6000)
x_te, y_te = scanlines(2400)
m, s = x_tr.mean(), x_tr.std()
X_tr = mx.array(((x_tr - m) / s)[..., None])    # (N, L, C=1): channels last
X_te = mx.array(((x_te - m) / s)[..., None])
Y_tr, Y_te = mx.array(y_tr), mx.array(y_te)


class ScanNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2)
        self.c2 = nn.Conv1d(16, 32, 5, stride=2, padding=2)
        self.fc = nn.Linear(32 * (WIN // 2), 64)
        self.out = nn.Linear(64, 10)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = h.reshape(h.shape[0], -1)
        return self.out(nn.relu(self.fc(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def symbol_error(model, X, Y):
    pred = mx.argmax(model(X), axis=1)
    return 100.0 * float(mx.mean(pred != Y))


def read_rate(model, X, Y):
    # a left half is 6 digits; it reads only if all 6 are right
    ok = np.array(mx.argmax(model(X), axis=1) == Y)
    n = len(ok) // 6 * 6
    return 100.0 * ok[:n].reshape(-1, 6).all(axis=1).mean()


t_start = time.time()
print(f"scanlines: train {len(y_tr)}  test {len(y_te)}  window {WIN} samples")

# ------------------------------------------------------------ range test
print("\nLR range test (throwaway network, SGD momentum 0.9, batch 128)")
mx.random.seed(1)
probe = ScanNet()
mx.eval(probe.parameters())
LR_MIN, LR_MAX, SWEEP = 1e-4, 10.0, 160
sweep_opt = optim.SGD(learning_rate=LR_MIN, momentum=0.9)
vg = nn.value_and_grad(probe, loss_fn)
avg, best, best_lr = 0.0, float("inf"), None
print(f"{'step':>6} {'lr':>10} {'smoothed loss':>14}")
for k in range(SWEEP):
    lr = LR_MIN * (LR_MAX / LR_MIN) ** (k / (SWEEP - 1))
    sweep_opt.learning_rate = lr
    idx = mx.array(rng.integers(0, len(y_tr), 128))
    loss, g = vg(probe, X_tr[idx], Y_tr[idx])
    sweep_opt.update(probe, g)
    mx.eval(probe.parameters(), sweep_opt.state, loss)
    v = loss.item()
    avg = 0.9 * avg + 0.1 * v
    sm = avg / (1 - 0.9 ** (k + 1))
    if sm < best:
        best, best_lr = sm, lr
    if k % 16 == 0:
        print(f"{k:>6d} {lr:>10.2e} {sm:>14.4f}")
    if not math.isfinite(v) or sm > 4 * best:
        print(f"{k:>6d} {lr:>10.2e} {sm:>14.4f}   <- blew up, sweep stopped")
        break
peak_lr = best_lr / 10
print(f"lowest smoothed loss {best:.4f} at lr {best_lr:.2e}; training with peak lr {peak_lr:.2e}")
del probe, sweep_opt

# --------------------------------------------------------------- real run
print("\ntraining from fresh weights (SGD nesterov, warm-up then cosine)")
mx.random.seed(2)
model = ScanNet()
mx.eval(model.parameters())
EPOCHS, BS = 8, 64
steps_per_epoch = len(y_tr) // BS
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(peak_lr / 10, peak_lr, warm),
     optim.cosine_decay(peak_lr, total - warm, peak_lr / 100)],
    [warm],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)
print(f"untrained: symbol error {symbol_error(model, X_te, Y_te):.1f}%  "
      f"(guessing 90.0%)  read rate {read_rate(model, X_te, Y_te):.1f}%")
print(f"{'epoch':>5} {'lr':>10} {'train ce':>9} {'symbol err':>11} {'6-digit reads':>14} {'secs':>6}")
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(y_tr)))
    tot, t0 = 0.0, time.time()
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        loss, g = vg(model, X_tr[idx], Y_tr[idx])
        if ep == 1 and b == 0:
            flat = tree_flatten(g)
            zero = [n for n, a in flat if not bool(mx.any(a != 0))]
            print(f"  (first step: {len(flat)} gradient leaves, zero leaves: {zero or 'none'})")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    lr_now = float(opt.learning_rate)
    print(f"{ep:>5d} {lr_now:>10.2e} {tot / steps_per_epoch:>9.4f} "
          f"{symbol_error(model, X_te, Y_te):>10.1f}% {read_rate(model, X_te, Y_te):>13.1f}% "
          f"{time.time() - t0:>6.1f}")
print(f"\nfinished in {time.time() - t_start:.1f}s")
