# Toy tabular classifier: MLP + BatchNorm + Dropout, compiled train step.
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL, D, C = 16385, 2000, 24, 6
BATCH = 64          # 16385 % 64 == 1 -> the last batch of every epoch has a single row
EPOCHS = 12


def make_data(n):
    centers = rng.normal(0, 2.0, size=(C, D)).astype(np.float32) if not hasattr(make_data, "c") else make_data.c
    make_data.c = centers
    y = rng.integers(0, C, size=n)
    x = centers[y] + rng.normal(0, 3.2, size=(n, D)).astype(np.float32)
    return mx.array(x), mx.array(y.astype(np.int32))


xtr, ytr = make_data(N_TRAIN)
xva, yva = make_data(N_VAL)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(D, 128)
        self.bn1 = nn.BatchNorm(128)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(128, 64)
        self.out = nn.Linear(64, C)

    def __call__(self, x):
        h = nn.relu(self.bn1(self.fc1(x)))
        h = self.drop(h)
        h = nn.relu(self.fc2(h))
        return self.out(h)


model = Net()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    # BatchNorm cannot estimate batch statistics from a single row
    if x.shape[0] < 2:
        raise ValueError(f"batch of {x.shape[0]} row(s) is too small for BatchNorm")
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    model.eval()
    logits = model(xva)
    acc = (mx.argmax(logits, axis=1) == yva).astype(mx.float32).mean()
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean")
    model.train()
    return ce.item(), acc.item()


print(f"{'epoch':>5} {'train_ce':>9} {'val_ce':>8} {'val_acc':>8} {'skipped':>8} {'sec':>6}")
t0 = time.time()
vce0, vacc0 = evaluate()
print(f"{0:>5} {'-':>9} {vce0:>8.4f} {vacc0:>8.3f} {0:>8} {0.0:>6.1f}")
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot, n, skipped = 0.0, 0, 0
    for i in range(0, N_TRAIN, BATCH):
        idx = perm[i:i + BATCH]
        xb, yb = xtr[idx], ytr[idx]
        try:
            loss = train_step(xb, yb)
        except ValueError:
            skipped += 1
            continue
        mx.eval(state)
        tot += loss.item() * xb.shape[0]
        n += xb.shape[0]
    vce, vacc = evaluate()
    print(f"{epoch:>5} {tot / n:>9.4f} {vce:>8.4f} {vacc:>8.3f} {skipped:>8} {time.time() - t0:>6.1f}")
