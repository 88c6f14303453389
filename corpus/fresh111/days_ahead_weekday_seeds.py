"""Scheduling helper: "today is <weekday>, what weekday is it in N days?"

Every (start weekday, N) pair with N in 0..1999 is labelled with datetime
arithmetic (a real Monday .. Sunday anchor plus timedelta(days=N)).  N is fed
as its four decimal digits; the start weekday and each digit position get
their own learned embedding; a small MLP reads their concatenation.  Three seeds are trained one after another,
each from scratch, with a hand-written momentum SGD over tree_map.  Nothing
is printed while a seed trains; a summary table (error rates in %) comes at
the end.
"""
import datetime as dt
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

MAX_AHEAD = 2000
ANCHOR = dt.date(2024, 1, 1)  # a Monday
rows = []
for w in range(7):
    start = ANCHOR + dt.timedelta(days=w)
    for n in range(MAX_AHEAD):
        digits = [n // 1000, (n // 100) % 10, (n // 10) % 10, n % 10]
        rows.append([start.weekday()] + digits + [(start + dt.timedelta(days=n)).weekday()])
DATA = np.array(rows, dtype=np.int32)
N_IN = DATA.shape[1] - 1


class WeekdayNet(nn.Module):
    def __init__(self, dim=16, hidden=96):
        super().__init__()
        self.weekday = nn.Embedding(7, dim)
        self.digits = [nn.Embedding(10, dim) for _ in range(4)]  # thousands .. ones
        self.mlp = nn.Sequential(nn.Linear(5 * dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 7))

    def __call__(self, x):
        parts = [self.weekday(x[:, 0])] + [emb(x[:, i + 1]) for i, emb in enumerate(self.digits)]
        z = mx.concatenate(parts, axis=-1)
        return self.mlp(z)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def error_pct(model, idx):
    logits = model(mx.array(DATA[idx, :N_IN]))
    pred = np.array(mx.argmax(logits, axis=-1))
    return 100.0 * float(np.mean(pred != DATA[idx, N_IN]))


def train_one(seed, epochs=40, batch=256, lr=0.1, mu=0.9):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    perm = rng.permutation(len(DATA))
    n_test = len(DATA) // 5
    test_idx, train_idx = perm[:n_test], perm[n_test:]

    model = WeekdayNet()
    mx.eval(model.parameters())
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    grad_fn = nn.value_and_grad(model, xent)
    steps_per_epoch = len(train_idx) // batch
    first_loss = last_loss = None
    for ep in range(epochs):
        order = rng.permutation(train_idx)
        for b in range(steps_per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            loss, grads = grad_fn(model, mx.array(DATA[idx, :N_IN]), mx.array(DATA[idx, N_IN]))
            if first_loss is None:
                dead = [k for k, g in tree_flatten(grads) if not bool(mx.any(g != 0))]
                assert not dead, f"zero-gradient leaves: {dead}"
            velocity = tree_map(lambda v, g: mu * v + g, velocity, grads)
            model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity))
            mx.eval(model.parameters(), velocity, loss)
            if first_loss is None:
                first_loss = loss.item()
        last_loss = loss.item()
    return {"seed": seed, "first_ce": first_loss, "last_ce": last_loss,
            "train_err": error_pct(model, train_idx), "test_err": error_pct(model, test_idx),
            "n_train": len(train_idx), "n_test": n_test}


t0 = time.time()
results = [train_one(s) for s in (0, 1, 2)]
print(f"{len(DATA)} (weekday, days-ahead) pairs, N < {MAX_AHEAD}; chance error = {100 * 6 / 7:.1f}%")
print(f"{'seed':>4} {'CE step 1':>10} {'CE last':>8} {'train err %':>12} {'test err %':>11}")
for r in results:
    print(f"{r['seed']:>4} {r['first_ce']:>10.3f} {r['last_ce']:>8.4f} {r['train_err']:>12.2f} {r['test_err']:>11.2f}")
test = [r["test_err"] for r in results]
print(f"mean test error {np.mean(test):.2f}% (+/- {np.std(test):.2f}) over {len(results)} seeds, {time.time() - t0:.1f}s")
