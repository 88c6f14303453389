"""Pachinko parlour: which of 7 payout pockets does a ball end in, given the
nail-gauge readings of the board and the launch settings.  Trained in two
stages: a freshly-gauged board first, then worn boards (noisier readings,
more label noise) where the loss is expected to jump up before it settles."""
from functools import partial
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(212)
N_FEAT, N_POCKET = 8, 7

# fixed "physics" of the board: a random tanh teacher
_k1, _k2, _k3 = mx.random.split(mx.random.key(7), 3)
W1 = mx.random.normal((N_FEAT, 24), key=_k1) * 0.9
W2 = mx.random.normal((24, N_POCKET), key=_k2) * 1.1


def make_board(n, reading_noise, label_temp, key):
    ka, kb, kc = mx.random.split(key, 3)
    x = mx.random.normal((n, N_FEAT), key=ka)
    logits = mx.tanh(x @ W1) @ W2
    g = -mx.log(-mx.log(mx.random.uniform(shape=logits.shape, key=kb) + 1e-9) + 1e-9)
    y = mx.argmax(logits / label_temp + g, axis=1)
    x_obs = x + reading_noise * mx.random.normal(x.shape, key=kc)
    return x_obs, y


class PocketNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_POCKET)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = PocketNet()
mx.eval(model.parameters())

STAGES = [("fresh board", 0.05, 0.35), ("worn boards", 0.45, 0.9)]
EPOCHS, BATCH = 30, 128
steps_per_epoch = 3200 // BATCH
total_steps = len(STAGES) * EPOCHS * steps_per_epoch
warm = 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-4, warm),
     optim.cosine_decay(3e-4, total_steps - warm, 1e-5)], [warm])
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)

# audit: every parameter must receive a gradient before we start
xa, ya = make_board(256, 0.05, 0.35, mx.random.key(1))
_, g0 = nn.value_and_grad(model, loss_fn)(model, xa, ya)
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, zero-grad tensors: {zero or 'none'}")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


def bar(i, n, width=12):
    f = int(width * i / n)
    return "#" * f + "-" * (width - f)


t0 = time.time()
for s, (name, rnoise, ltemp) in enumerate(STAGES, 1):
    xtr, ytr = make_board(3200, rnoise, ltemp, mx.random.key(100 + s))
    xva, yva = make_board(800, rnoise, ltemp, mx.random.key(200 + s))
    counts = mx.sum(ytr[:, None] == mx.arange(N_POCKET)[None, :], axis=0)
    majority = float(mx.max(counts)) / ytr.size * 100
    for ep in range(1, EPOCHS + 1):
        perm = mx.random.permutation(3200)
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(loss, state)
            run += loss.item()
        acc = float(mx.mean(mx.argmax(model(xva), axis=1) == yva)) * 100
        vloss = loss_fn(model, xva, yva).item()
        if ep in (1, 2, 3) or ep % 5 == 0:
            lr = float(opt.learning_rate)
            print(f"stage {s}/2 {name:<11} |{bar(ep, EPOCHS)}| {ep:>2}/{EPOCHS} ep "
                  f"[{time.time() - t0:5.1f}s, lr={lr:.2e}] trn={run / steps_per_epoch:.4f} "
                  f"val={vloss:.4f} hit={acc:5.1f}% (always-busiest-pocket {majority:4.1f}%)")
print(f"done in {time.time() - t0:.1f}s, final pocket hit rate {acc:.1f}%")
