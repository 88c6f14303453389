"""Glory-hole gather classifier: predict the working range of a glass gather
(0=too stiff, 1=workable, 2=runny) from six furnace / gather readings.
Compiled train step, AdamW."""
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

N_TRAIN, N_VAL = 8192, 1024
BATCH = 64
EPOCHS = 20


def make_gathers(n):
    # furnace C, gather mass g, seconds out of glory hole, batch soda %, pipe turns, marver s
    raw = mx.random.normal((n, 6))
    temp = 1120 + 40 * raw[:, 0]
    secs = 8 + 3 * raw[:, 2]
    soda = 15 + 2 * raw[:, 3]
    # made-up viscosity index: hotter / more soda = runnier, more time out = stiffer
    visc = -0.035 * (temp - 1120) + 0.45 * (secs - 8) - 0.5 * (soda - 15) + 0.3 * raw[:, 5]
    label = mx.where(visc > 1.0, 0, mx.where(visc < -1.0, 2, 1)).astype(mx.int32)
    return raw, label


Xtr, ytr = make_gathers(N_TRAIN)
Xva, yva = make_gathers(N_VAL)


class GatherNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h)) + h
        return self.out(h)


model = GatherNet()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=1e-3)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

state = [model.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss


def accuracy(x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.random.permutation(N_TRAIN)
    tot = 0.0
    nb = 0
    for i in range(0, N_TRAIN, BATCH):
        idx = perm[i : i + BATCH]
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(loss, model.state, optimizer.state)
        tot += loss.item()
        nb += 1
    print(f"[gather {epoch:02d}] xent={tot / nb:.4f} val_acc={100 * accuracy(Xva, yva):.1f}%")
print(f"done in {time.time() - t0:.1f}s")
