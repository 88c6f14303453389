"""Live-sound ring-out helper: classify 1/3-octave-ish RTA frames from the front-of-house desk
as speech / music / feedback howl, so the engineer's notch filters only chase real feedback.
3-fold cross-validation, Adafactor with warm-restart cosine cycles that each ramp up from lr=0,
one JSON object per evaluation."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(142)
N_BINS = 32
CLASSES = ["speech", "music", "howl"]


def synth_frames(n):
    """log-magnitude RTA frames (dB/10) from the measurement mic at front of house"""
    y = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    bins = np.arange(N_BINS)
    X = np.empty((n, N_BINS), dtype=np.float32)
    for i, c in enumerate(y):
        floor = -3.0 + 0.15 * rng.standard_normal(N_BINS) - 0.04 * bins
        if c == 0:  # speech: two broad formant humps
            f1, f2 = rng.uniform(3, 8), rng.uniform(10, 18)
            spec = 1.6 * np.exp(-0.5 * ((bins - f1) / 2.0) ** 2) + 1.1 * np.exp(-0.5 * ((bins - f2) / 2.5) ** 2)
        elif c == 1:  # music: harmonic comb of a fundamental
            f0 = rng.uniform(2.5, 6.0)
            spec = sum(1.3 / h * np.exp(-0.5 * ((bins - h * f0) / 0.7) ** 2) for h in range(1, 7))
        else:  # feedback howl: one very narrow, strong line plus a weak vocal-mic bed
            fh = rng.uniform(8, 28)
            spec = 2.4 * np.exp(-0.5 * ((bins - fh) / 0.45) ** 2)
            spec = spec + 0.5 * np.exp(-0.5 * ((bins - rng.uniform(3, 8)) / 2.0) ** 2)
        level = rng.uniform(0.6, 1.4)
        X[i] = floor + level * spec + 0.35 * rng.standard_normal(N_BINS)
    return X, y.astype(np.int32)


X_all, y_all = synth_frames(1500)
mu, sd = X_all.mean(0), X_all.std(0) + 1e-6
X_all = (X_all - mu) / sd


class HowlNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(N_BINS, 64)
        self.norm = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = nn.silu(self.hid(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def sgdr_lr(step, cycle_len=100, warm=8, peak=1e-2, decay=0.5):
    """each cycle restarts from exactly 0, ramps linearly for `warm` steps, then cosine-anneals"""
    c, s = divmod(step, cycle_len)
    top = peak * decay ** c
    if s < warm:
        return top * s / warm
    p = (s - warm) / (cycle_len - warm)
    return top * 0.5 * (1 + math.cos(math.pi * p))


def macro_f1(pred, y):
    f1s = []
    for c in range(3):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1s))


K = 3
CYCLES = 3
CYCLE_LEN = 100
BATCH = 64
perm = rng.permutation(len(y_all))
folds = np.array_split(perm, K)
summary = []
t_start = time.time()

for fold in range(K):
    va_idx = folds[fold]
    tr_idx = np.concatenate([folds[j] for j in range(K) if j != fold])
    Xtr, ytr = mx.array(X_all[tr_idx]), mx.array(y_all[tr_idx])
    Xva, yva_np = mx.array(X_all[va_idx]), y_all[va_idx]
    howl_share = float(np.mean(yva_np == 2))

    mx.random.seed(1000 + fold)
    model = HowlNet()
    mx.eval(model.parameters())
    opt = optim.Adafactor(learning_rate=0.0, relative_step=False, scale_parameter=False)
    vg = nn.value_and_grad(model, loss_fn)

    if fold == 0:
        # one-off audit: every weight should receive gradient
        _, g0 = vg(model, Xtr[:BATCH], ytr[:BATCH])
        dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
        print(json.dumps({"audit": "grad_nonzero", "tensors": len(tree_flatten(g0)), "dead": dead}))

    order = np.arange(len(tr_idx))
    cursor = len(order)
    run_loss = 0.0
    for step in range(CYCLES * CYCLE_LEN):
        if cursor + BATCH > len(order):
            rng.shuffle(order)
            cursor = 0
        b = mx.array(order[cursor:cursor + BATCH])
        cursor += BATCH
        lr = sgdr_lr(step, CYCLE_LEN)
        opt.learning_rate = lr
        loss, grads = vg(model, Xtr[b], ytr[b])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()

        if (step + 1) % 25 == 0:
            logits = model(Xva)
            va_ce = nn.losses.cross_entropy(logits, mx.array(yva_np), reduction="mean").item()
            pred = np.array(mx.argmax(logits, axis=1))
            missed = float(np.mean(pred[yva_np == 2] != 2)) * 100
            rec = {
                "fold": fold, "step": step + 1, "cycle": step // CYCLE_LEN,
                "lr": round(lr, 6), "train_ce": round(run_loss / 25, 4),
                "val_ce": round(va_ce, 4), "mF1": round(macro_f1(pred, yva_np), 4),
                "howl_miss_%": round(missed, 1), "chance_mF1": round(1 / 3, 4),
            }
            print(json.dumps(rec))
            run_loss = 0.0
    summary.append((fold, va_ce, macro_f1(pred, yva_np), missed, howl_share))

print("fold | val_ce | mF1    | howl miss % | howl share")
for f, ce, m, miss, share in summary:
    print(f"{f:>4} | {ce:6.4f} | {m:.4f} | {miss:11.1f} | {share:.3f}")
print(f"mean mF1 {np.mean([s[2] for s in summary]):.4f} over {K} folds, {time.time() - t_start:.1f}s")
