"""Typist identification from keystroke timing (synthetic), GRU over padded
variable-length sequences, Lion optimiser, gradient accumulation over
micro-batches weighted by their valid-key counts, two seeds, JSON lines."""
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map, tree_flatten

N_TYPISTS, FEAT, MAXLEN = 4, 3, 24
MICRO, ACCUM = 12, 5          # 5 micro-batches of 12 sessions -> one update


def make_sessions(rng, n):
    # each typist: own mean hold time, flight time, rhythm wobble
    prof = np.array([[0.09, 0.16, 0.8], [0.12, 0.11, 1.9], [0.07, 0.22, 1.2], [0.11, 0.19, 2.7]])
    X = np.zeros((n, MAXLEN, FEAT), np.float32)
    L = rng.integers(6, MAXLEN + 1, size=n)
    y = rng.integers(0, N_TYPISTS, size=n)
    for i in range(n):
        hold, flight, wob = prof[y[i]]
        k = np.arange(L[i])
        X[i, :L[i], 0] = hold + 0.03 * rng.standard_normal(L[i])
        X[i, :L[i], 1] = flight * (1 + 0.25 * np.sin(wob * k)) + 0.05 * rng.standard_normal(L[i])
        X[i, :L[i], 2] = (rng.random(L[i]) < 0.05 + 0.03 * y[i]).astype(np.float32)  # backspaces
    X[:, :, :2] = (X[:, :, :2] - 0.13) / 0.07
    mask = (np.arange(MAXLEN)[None, :] < L[:, None]).astype(np.float32)
    X *= mask[:, :, None]
    return mx.array(X), mx.array(mask), mx.array(y.astype(np.int32))


class TypistGRU(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.inp = nn.Linear(FEAT, hidden)
        self.gru = nn.GRU(hidden, hidden)
        self.head = nn.Linear(hidden, N_TYPISTS)

    def __call__(self, x, mask):
        h = self.gru(nn.gelu(self.inp(x)))
        pooled = (h * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return self.head(pooled)


def loss_sum(model, x, mask, y):
    # summed (not mean) CE so micro-batches of any size combine exactly
    return nn.losses.cross_entropy(model(x, mask), y, reduction="sum")


def run(seed, total_updates=70):
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    Xtr, Mtr, ytr = make_sessions(rng, 700)      # not a multiple of MICRO*ACCUM
    Xva, Mva, yva = make_sessions(rng, 300)
    model = TypistGRU()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 3e-3, 15)   # starts at exactly 0
    decay = optim.cosine_decay(3e-3, total_updates - 15, 3e-4)
    opt = optim.Lion(learning_rate=optim.join_schedules([warm, decay], [15]), weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_sum)
    n = Xtr.shape[0]
    order = mx.array(rng.permutation(n))
    cursor, upd, epoch = 0, 0, 0
    while upd < total_updates:
        acc, acc_loss, acc_n = None, 0.0, 0
        for _ in range(ACCUM):
            if cursor >= n:             # epoch end: leftover micro-batches still count
                break
            idx = order[cursor:cursor + MICRO]
            cursor += MICRO
            loss, g = vg(model, Xtr[idx], Mtr[idx], ytr[idx])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            mx.eval(acc, loss)
            acc_loss += loss.item()
            acc_n += idx.shape[0]
        if acc is not None:
            acc = tree_map(lambda t: t / acc_n, acc)    # divide by sessions actually seen
            if upd == 3:
                # audit: accumulated gradient vs one full-batch gradient on the same sessions
                lo = cursor - acc_n
                _, gfull = vg(model, Xtr[order[lo:cursor]], Mtr[order[lo:cursor]], ytr[order[lo:cursor]])
                diff = sum(mx.sum((a - b / acc_n) ** 2).item() for (_, a), (_, b)
                           in zip(tree_flatten(acc), tree_flatten(gfull)))
                print(json.dumps({"seed": seed, "audit": "accum_vs_full", "sessions": acc_n,
                                  "l2_diff": float(f"{math.sqrt(diff):.3e}")}))
            lr_now = opt.learning_rate.item()
            opt.update(model, acc)
            mx.eval(model.parameters(), opt.state)
            upd += 1
            if upd % 10 == 0 or upd == 1:
                model.eval()
                logits = model(Xva, Mva)
                val_ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
                acc_pct = 100.0 * (mx.argmax(logits, axis=1) == yva).mean().item()
                model.train()
                print(json.dumps({"seed": seed, "update": upd, "epoch": epoch, "lr": round(lr_now, 6),
                                  "train_ce": round(acc_loss / acc_n, 4), "val_ce": round(val_ce, 4),
                                  "val_acc_pct": round(acc_pct, 1), "chance_pct": 25.0,
                                  "window_sessions": acc_n}))
        if cursor >= n:
            epoch += 1
            cursor = 0
            order = mx.array(rng.permutation(n))
    return acc_pct


finals = [run(s) for s in (0, 1)]
print(json.dumps({"summary": "typist_id", "val_acc_pct_by_seed": [round(a, 1) for a in finals],
                  "mean_val_acc_pct": round(sum(finals) / len(finals), 1)}))
