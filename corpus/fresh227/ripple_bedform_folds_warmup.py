"""Sedimentology: classify sand ripple type from a 1-D bed-elevation profile.

current ripples (asymmetric), wave ripples (symmetric), interference ripples.
3-fold cross-validation; per fold a fresh model, AdamW with a linear warm-up
that starts at exactly lr = 0, then cosine decay.
"""
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
L = 64
N_PER = 300
CLASSES = ["current", "wave", "interf"]


def profile(kind):
    x = np.arange(L, dtype=np.float64)
    lam = rng.uniform(8.0, 14.0)
    ph = rng.uniform(0, lam)
    amp = rng.uniform(0.6, 1.4)
    u = ((x + ph) % lam) / lam
    if kind == 0:  # current ripple: long stoss, steep lee
        skew = rng.uniform(0.7, 0.85)
        y = np.where(u < skew, u / skew, (1 - u) / (1 - skew))
        if rng.random() < 0.5:
            y = y[::-1]
    elif kind == 1:  # wave ripple: symmetric, peaked crests
        y = 1.0 - np.abs(2 * u - 1)
        y = y ** 1.5
    else:  # interference: two trains
        lam2 = lam * rng.uniform(1.5, 2.2)
        y = 0.5 * (np.sin(2 * np.pi * x / lam + ph) + np.sin(2 * np.pi * x / lam2 + 2 * ph))
    y = amp * (y - y.mean())
    y += rng.normal(0, 0.15, L)
    return y.astype(np.float32)


X = np.stack([profile(k) for k in range(3) for _ in range(N_PER)])[:, :, None]
Y = np.repeat(np.arange(3), N_PER).astype(np.int32)
perm = rng.permutation(len(Y))
X, Y = X[perm], Y[perm]
folds = np.array_split(np.arange(len(Y)), 3)


class RippleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 5, padding=2, bias=False)
        self.b1 = nn.BatchNorm(16)
        self.c2 = nn.Conv1d(16, 32, 5, stride=2, padding=2, bias=False)
        self.b2 = nn.BatchNorm(32)
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        h = nn.relu(self.b1(self.c1(x)))
        h = nn.relu(self.b2(self.c2(h)))
        return self.head(h.mean(axis=1))  # global average pool over length


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


EPOCHS, BS, WARM = 6, 50, 30
fold_acc = []
for f, val_idx in enumerate(folds):
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != f])
    Xtr, Ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    Xva, Yva = mx.array(X[val_idx]), mx.array(Y[val_idx])
    base = 100.0 * np.bincount(Y[tr_idx]).max() / len(tr_idx)
    mx.random.seed(100 + f)
    model = RippleNet()
    mx.eval(model.parameters())
    steps_per = len(tr_idx) // BS
    total = EPOCHS * steps_per
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, total - WARM, 1e-5)], [WARM]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)
    print(f"\nfold {f + 1}/3  train={len(tr_idx)} val={len(val_idx)}  majority-class baseline {base:.1f}%")
    print("| fold | epoch | step | lr        | train xent | val acc | baseline |")
    print("|------|-------|------|-----------|------------|---------|----------|")
    step = 0
    for ep in range(EPOCHS):
        model.train()
        order = mx.array(np.random.default_rng(ep + 10 * f).permutation(len(tr_idx)))
        run = 0.0
        for b in range(steps_per):
            idx = order[b * BS:(b + 1) * BS]
            lr_now = opt.learning_rate.item()
            loss, grads = vg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.state, opt.state, loss)
            run += loss.item()
            step += 1
            if step == 1:
                print(f"| {f + 1:4d} | {ep:5d} | {step:4d} | {lr_now:.3e} | {loss.item():10.4f} |    -    |  {base:5.1f}%  |")
        model.eval()
        acc = 100.0 * (mx.argmax(model(Xva), axis=1) == Yva).mean().item()
        print(f"| {f + 1:4d} | {ep:5d} | {step:4d} | {opt.learning_rate.item():.3e} | {run / steps_per:10.4f} | {acc:6.1f}% |  {base:5.1f}%  |")
    fold_acc.append(acc)

print("\nper-fold val acc: " + ", ".join(f"{a:.1f}%" for a in fold_acc))
print(f"cv mean {np.mean(fold_acc):.1f}% +- {np.std(fold_acc):.1f}  (chance 33.3%)")
