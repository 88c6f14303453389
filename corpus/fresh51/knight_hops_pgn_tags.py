"""Learn the minimum number of knight moves between two squares of an empty chessboard.

All 64*64 ordered square pairs are labelled by breadth-first search (0..6 moves),
a fixed 20% of pairs is held out. Input = one-hot(from) ++ one-hot(to) ++ |dx|,|dy| (/7).
Reports are written as PGN-style tag pairs, one block per report.
"""
import time
from collections import deque
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MOVES = [(1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1), (-1, -2), (-2, -1)]


def knight_distances():
    dist = np.zeros((64, 64), dtype=np.int64)
    for s in range(64):
        d = {s: 0}
        q = deque([s])
        while q:
            u = q.popleft()
            r, c = divmod(u, 8)
            for dr, dc in MOVES:
                rr, cc = r + dr, c + dc
                if 0 <= rr < 8 and 0 <= cc < 8:
                    v = rr * 8 + cc
                    if v not in d:
                        d[v] = d[u] + 1
                        q.append(v)
        for v, k in d.items():
            dist[s, v] = k
    return dist


def build_features():
    src, dst = np.meshgrid(np.arange(64), np.arange(64), indexing="ij")
    src, dst = src.ravel(), dst.ravel()
    x = np.zeros((4096, 130), dtype=np.float32)
    x[np.arange(4096), src] = 1.0
    x[np.arange(4096), 64 + dst] = 1.0
    x[:, 128] = np.abs(src // 8 - dst // 8) / 7.0
    x[:, 129] = np.abs(src % 8 - dst % 8) / 7.0
    return x, src, dst


class HopNet(nn.Module):
    def __init__(self, d_in=130, hidden=192, n_out=7):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_out)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h)) + h
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def tags(**kw):
    return "\n".join(f'[{k} "{v}"]' for k, v in kw.items()) + "\n"


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    dist = knight_distances()
    x_all, src, dst = build_features()
    y_all = dist[src, dst]
    perm = rng.permutation(4096)
    tr, te = perm[:3277], perm[3277:]
    xtr, ytr = mx.array(x_all[tr]), mx.array(y_all[tr])
    xte, yte = mx.array(x_all[te]), mx.array(y_all[te])
    majority = np.bincount(y_all[tr]).argmax()
    base_acc = float(np.mean(y_all[te] == majority))

    model = HopNet()
    mx.eval(model.parameters())
    epochs, bs = 30, 64
    steps_per_epoch = int(np.ceil(len(tr) / bs))
    sched = optim.cosine_decay(2e-3, epochs * steps_per_epoch, 1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    # first-step gradient check (before compiling the step)
    _, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:bs], ytr[:bs])
    leaves = tree_flatten(g0)
    dead = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(tags(Event="grad-check", Leaves=len(leaves), ZeroLeaves=len(dead),
               MajorityBaselineAcc=f"{base_acc:.3f}", Pairs=f"{len(tr)}/{len(te)}"))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        order = mx.array(rng.permutation(len(tr)))
        tot, n = 0.0, 0
        for i in range(0, len(tr) - bs + 1, bs):
            idx = order[i:i + bs]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
            n += 1
        if ep == 1 or ep % 5 == 0:
            logits = model(xte)
            te_ce = nn.losses.cross_entropy(logits, yte, reduction="mean").item()
            pred = mx.argmax(logits, axis=1)
            acc = mx.mean(pred == yte).item()
            within1 = mx.mean(mx.abs(pred - yte) <= 1).item()
            print(tags(Event="epoch", Round=ep, TrainCE=f"{tot / n:.4f}",
                       HeldOutCE=f"{te_ce:.4f}", HeldOutAcc=f"{acc:.3f}",
                       WithinOneMove=f"{within1:.3f}",
                       LR=f"{opt.learning_rate.item():.2e}",
                       Seconds=f"{time.perf_counter() - t0:.1f}"))
    print('1-0 {training finished}')


if __name__ == "__main__":
    main()
