"""Read digits off a cheap 7-segment LCD from noisy segment photodiode levels.

Each sample is 7 brightness readings (segments a..g) plus 2 ambient readings.
Segments bleed into their neighbours, the backlight varies per reading and a
segment is sometimes dead.  A small MLP with label smoothing learns to read it.
Progress goes out as JSON lines.
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

#            a  b  c  d  e  f  g
SEGMENTS = [[1, 1, 1, 1, 1, 1, 0],  # 0
            [0, 1, 1, 0, 0, 0, 0],  # 1
            [1, 1, 0, 1, 1, 0, 1],  # 2
            [1, 1, 1, 1, 0, 0, 1],  # 3
            [0, 1, 1, 0, 0, 1, 1],  # 4
            [1, 0, 1, 1, 0, 1, 1],  # 5
            [1, 0, 1, 1, 1, 1, 1],  # 6
            [1, 1, 1, 0, 0, 0, 0],  # 7
            [1, 1, 1, 1, 1, 1, 1],  # 8
            [1, 1, 1, 1, 0, 1, 1]]  # 9
SEG = np.array(SEGMENTS, dtype=np.float32)
# which segments touch which (crosstalk)
NEIGH = {0: [1, 5], 1: [0, 2, 6], 2: [1, 3, 6], 3: [2, 4], 4: [3, 5, 6], 5: [0, 4, 6], 6: [1, 2, 4, 5]}
BLEED = np.zeros((7, 7), dtype=np.float32)
for i, js in NEIGH.items():
    for j in js:
        BLEED[i, j] = 0.12


def make_readings(n, rng):
    digits = rng.integers(0, 10, size=n)
    on = SEG[digits].copy()
    dead = rng.random((n, 7)) < 0.03
    on[dead] = 0.0
    light = on + on @ BLEED
    backlight = rng.uniform(0.5, 1.4, size=(n, 1)).astype(np.float32)
    ambient = rng.uniform(0.0, 0.6, size=(n, 1)).astype(np.float32)
    x = light * backlight + ambient + rng.normal(0, 0.12, size=(n, 7)).astype(np.float32)
    amb_sensors = ambient + rng.normal(0, 0.05, size=(n, 2)).astype(np.float32)
    feats = np.concatenate([x, amb_sensors], axis=1).astype(np.float32)
    return feats, digits.astype(np.int32)


class Reader(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(9)
        self.l1 = nn.Linear(9, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 10)

    def __call__(self, x):
        h = nn.relu(self.l1(self.norm(x)))
        h = nn.relu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1, reduction="mean")


def emit(**kw):
    print(json.dumps(kw, sort_keys=False))


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_readings(6000, rng)
    xva, yva = make_readings(2000, rng)
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = Reader()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(0.08, 40 * (6000 // 100), end=0.002)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    # gradient check on the first batch
    _, g0 = vg(model, mx.array(xtr[:100]), mx.array(ytr[:100]))
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    emit(event="gradcheck", leaves=len(leaves), zero_leaves=zero)

    t0 = time.time()
    for epoch in range(1, 41):
        perm = rng.permutation(len(xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm), 100):
            idx = perm[i:i + 100]
            loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if epoch == 1 or epoch % 5 == 0:
            pred = mx.argmax(model(xva_m), axis=1)
            acc = mx.mean(pred == yva_m).item()
            emit(event="epoch", epoch=epoch, train_ce=round(tot / nb, 4),
                 val_read_rate=round(acc, 4), lr=round(opt.learning_rate.item(), 5),
                 secs=round(time.time() - t0, 1))
    pred = np.array(mx.argmax(model(xva_m), axis=1))
    per_digit = {str(d): round(float(np.mean(pred[yva == d] == d)), 3) for d in range(10)}
    emit(event="done", per_digit_read_rate=per_digit)


if __name__ == "__main__":
    main()
