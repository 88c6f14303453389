# Per-token tagger for a hand-loom threading draft.
# Each draft is a variable-length row of heddle shafts (1..6, padded with 0).
# Every position gets a tag: 0 plain, 1 turn (direction changes), 2 repeat
# (same shaft as two back).  Stage "short" uses rows of 6-10 shafts; stage
# "long" uses rows of 14-24 and adds tag 3 "float" (three equal shafts in a row),
# so the loss goes up when the long stage starts, then comes back down.
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

PAD = 0
N_TAGS = 4


def tag_row(row, allow_float):
    tags = []
    for i, s in enumerate(row):
        t = 0
        if allow_float and i >= 2 and row[i - 1] == s and row[i - 2] == s:
            t = 3
        elif i >= 2 and row[i - 2] == s:
            t = 2
        elif 1 <= i < len(row) - 1 and (row[i] - row[i - 1]) * (row[i + 1] - row[i]) < 0:
            t = 1
        tags.append(t)
    return tags


def make_split(rng, n, lo, hi, allow_float, width=24):
    x = np.zeros((n, width), np.int32)
    y = np.zeros((n, width), np.int32)
    m = np.zeros((n, width), np.float32)
    for k in range(n):
        L = int(rng.integers(lo, hi + 1))
        row = [int(rng.integers(1, 7))]
        while len(row) < L:
            r = rng.random()
            if allow_float and r < 0.15:
                row.append(row[-1])
            elif r < 0.35 and len(row) >= 2:
                row.append(row[-2])
            else:
                row.append(int(rng.integers(1, 7)))
        x[k, :L] = row
        y[k, :L] = tag_row(row, allow_float)
        m[k, :L] = 1.0
    return mx.array(x), mx.array(y), mx.array(m)


class Tagger(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.emb = nn.Embedding(7, dim)
        self.conv1 = nn.Conv1d(dim, 24, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(24, 24, kernel_size=3, padding=1)
        self.head = nn.Linear(24, N_TAGS)

    def __call__(self, x):
        h1 = nn.relu(self.conv1(self.emb(x)))
        h2 = nn.relu(self.conv2(h1)) + h1
        return self.head(h2)


def masked_ce(model, x, y, m):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    return (ce * m).sum() / m.sum()


def token_acc(model, x, y, m):
    pred = mx.argmax(model(x), axis=-1)
    return ((pred == y).astype(mx.float32) * m).sum() / m.sum()


def majority_acc(y, m):
    ym = np.array(y)[np.array(m) > 0]
    return np.bincount(ym, minlength=N_TAGS).max() / len(ym)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = Tagger()
    opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)
    loss_and_grad = nn.value_and_grad(model, masked_ce)

    state = [model.state, opt.state]

    def raw_step(x, y, m):
        loss, g = loss_and_grad(model, x, y, m)
        opt.update(model, g)
        return loss

    step = mx.compile(raw_step, inputs=state, outputs=state)

    # one-off audit: every parameter must receive a gradient
    xa, ya, ma = make_split(np.random.default_rng(0), 32, 6, 10, False)
    _, g0 = loss_and_grad(model, xa, ya, ma)
    norms = {k: float(mx.linalg.norm(v.reshape(-1)).item())
             for k, v in tree_flatten(g0)}
    print(json.dumps({"audit": "grad_norms", "n": len(norms),
                      "min": round(min(norms.values()), 5),
                      "max": round(max(norms.values()), 5)}))

    stages = [("short", 6, 10, False, 120), ("long", 14, 24, True, 160)]
    t0 = time.time()
    for name, lo, hi, allow_float, steps in stages:
        xtr, ytr, mtr = make_split(rng, 1024, lo, hi, allow_float)
        xva, yva, mva = make_split(rng, 256, lo, hi, allow_float)
        base = majority_acc(yva, mva)
        for it in range(1, steps + 1):
            idx = mx.array(rng.integers(0, xtr.shape[0], 48))
            loss = step(xtr[idx], ytr[idx], mtr[idx])
            mx.eval(loss, model.parameters(), opt.state)
            if it == 1 or it % 40 == 0:
                vl = masked_ce(model, xva, yva, mva)
                va = token_acc(model, xva, yva, mva)
                mx.eval(vl, va)
                print(json.dumps({
                    "stage": name, "step": it, "train_ce": round(loss.item(), 4),
                    "val_ce": round(vl.item(), 4),
                    "tok_acc_pct": round(100 * va.item(), 1),
                    "majority_pct": round(100 * base, 1),
                }))
    print(json.dumps({"done": True, "seconds": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
