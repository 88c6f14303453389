"""Apiary acoustic monitor: colony state (queenright / queenless / swarm prep / robbing)
from 12 band energies of the hive hum plus temperature and time of day.
Residual MLP with shake-shake regularisation (two branches mixed by a random
per-sample weight forward and a different one backward), minibatches of 16."""
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
STATES = ["queenright", "queenless", "swarm_prep", "robbing"]


def make_hives(n):
    y = rng.choice(4, n, p=[0.55, 0.15, 0.18, 0.12])
    bands = rng.normal(0, 1, (n, 12)) * 0.8
    f = np.arange(12)
    centre = np.array([4.0, 6.5, 3.0, 8.5])[y]            # hum peak band shifts with state
    width = np.array([1.5, 2.5, 1.0, 3.0])[y]
    bands += 2.2 * np.exp(-((f[None] - centre[:, None]) ** 2) / (2 * width[:, None] ** 2))
    temp = rng.normal(34.5, 0.8, n) + np.where(y == 2, 0.9, 0.0) - np.where(y == 1, 0.6, 0.0)
    hour = rng.uniform(0, 24, n)
    bands += 0.5 * np.sin(hour / 24 * 2 * np.pi)[:, None]   # daily activity cycle
    X = np.concatenate([bands, (temp[:, None] - 34.5), np.sin(hour / 24 * 2 * np.pi)[:, None],
                        np.cos(hour / 24 * 2 * np.pi)[:, None]], 1).astype(np.float32)
    return X, y.astype(np.int32)


Xtr, ytr = make_hives(2000)
Xte, yte = make_hives(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
ytr_m, yte_m = mx.array(ytr), mx.array(yte)


class Branch(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a = nn.Linear(d, d)
        self.b = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)

    def __call__(self, x):
        return self.b(nn.relu(self.a(self.norm(x))))


class ShakeBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.b1 = Branch(d)
        self.b2 = Branch(d)

    def __call__(self, x):
        u, v = self.b1(x), self.b2(x)
        if self.training:
            alpha = mx.random.uniform(shape=(x.shape[0], 1))
            beta = mx.random.uniform(shape=(x.shape[0], 1))
            fwd = alpha * u + (1 - alpha) * v
            bwd = beta * u + (1 - beta) * v
            mixed = bwd + mx.stop_gradient(fwd - bwd)   # forward uses alpha, backward uses beta
        else:
            mixed = 0.5 * (u + v)
        return x + mixed


class HiveNet(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.inp = nn.Linear(15, d)
        self.blocks = [ShakeBlock(d) for _ in range(3)]
        self.head = nn.Linear(d, 4)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)


model = HiveNet()
EPOCHS, B = 8, 16
steps_per_epoch = Xtr.shape[0] // B
sched = optim.cosine_decay(0.05, EPOCHS * steps_per_epoch, 1e-4)
opt = optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4, nesterov=True)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss


def evaluate(X, y):
    model.eval()
    logits = model(X)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, 1) == y).astype(mx.float32).mean().item() * 100
    model.train()
    return loss, acc


model.train()
majority = np.bincount(ytr).max() / len(ytr) * 100
print(f"[hive] colonies train={len(ytr)} test={len(yte)} states={STATES} majority-guess acc {majority:.1f}%")
_, g = vg(model, Xtr[:B], ytr_m[:B])
gl = tree_flatten(g)
print(f"[hive] first batch: {sum(int(mx.any(v != 0).item()) for _, v in gl)} of {len(gl)} gradient tensors nonzero")
l0, a0 = evaluate(Xte, yte_m)
opt.init(model.trainable_parameters())
print(f"[hive] before training: test xent {l0:.3f} nats, test acc {a0:.1f}%")

t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    batch_losses = []
    for s in range(steps_per_epoch):
        idx = perm[s * B:(s + 1) * B]
        loss = train_step(Xtr[idx], ytr_m[idx])
        mx.eval(state, loss)
        batch_losses.append(loss.item())
    q = np.percentile(batch_losses, [10, 50, 90])
    tl, ta = evaluate(Xte, yte_m)
    print(f"[hive] ep {ep:02d}/{EPOCHS} lr {opt.learning_rate.item():.4f} | batch xent p10/p50/p90 "
          f"{q[0]:.3f}/{q[1]:.3f}/{q[2]:.3f} last {batch_losses[-1]:.3f} | test xent {tl:.3f} acc {ta:.1f}% | {time.time() - t0:.1f}s")

model.eval()
pred = np.array(mx.argmax(model(Xte), 1))
print("[hive] per-state test recall:", ", ".join(
    f"{s} {np.mean(pred[yte == k] == k) * 100:.1f}%" for k, s in enumerate(STATES)))
print("[hive] done")
