# Heliostat mirror soiling: classify cleaning need (0 clean / 1 light / 2 heavy) from
# 12 reflectance-drift readings. Compiled train step, SGD+Nesterov, LR warmup from exactly 0
# followed by cosine warm restarts (loss bumps up after each restart), tqdm-like lines.
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(5)
F, C = 12, 3
centers = mx.random.normal((C, F)) * 1.2


def readings(n):
    lab = mx.random.randint(0, C, (n,))
    x = centers[lab] + mx.random.normal((n, F)) * 3.2
    return x, lab


Xtr, Ytr = readings(3072)
Xte, Yte = readings(768)
mx.eval(Xtr, Ytr, Xte, Yte)

model = nn.Sequential(nn.Linear(F, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, C))

BATCH = 96
STEPS_PER_EPOCH = Xtr.shape[0] // BATCH
warm = optim.linear_schedule(0.0, 0.08, 2 * STEPS_PER_EPOCH)  # starts at exactly 0
cyc = [optim.cosine_decay(0.08, 4 * STEPS_PER_EPOCH, 1e-3) for _ in range(3)]
sched = optim.join_schedules([warm] + cyc, [2 * STEPS_PER_EPOCH, 6 * STEPS_PER_EPOCH, 10 * STEPS_PER_EPOCH])
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


def loss_fn(x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
    opt.update(model, grads)
    return loss


# one uncompiled audit: every layer gets a gradient
_, g = nn.value_and_grad(model, loss_fn)(Xtr[:BATCH], Ytr[:BATCH])
norms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g)}
print("audit grad-norms:", " ".join(f"{k}={v:.3e}" for k, v in norms.items()))

EPOCHS = 14
t_start = time.time()
for epoch in range(EPOCHS):
    perm = mx.random.permutation(Xtr.shape[0])
    run = 0.0
    t0 = time.time()
    for s in range(STEPS_PER_EPOCH):
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss = train_step(Xtr[idx], Ytr[idx])
        mx.eval(state, loss)
        run += loss.item()
    lr_now = opt.learning_rate.item()
    acc = mx.mean(mx.argmax(model(Xte), axis=1) == Yte).item()
    dt = time.time() - t0
    bar = "#" * (epoch + 1) + "." * (EPOCHS - epoch - 1)
    sys.stdout.write(f"epoch {epoch + 1:2d}/{EPOCHS} |{bar}| {STEPS_PER_EPOCH}/{STEPS_PER_EPOCH} "
                     f"[{dt:.2f}s, {STEPS_PER_EPOCH / dt:.0f}it/s, xent={run / STEPS_PER_EPOCH:.4f}, "
                     f"lr={lr_now:.4f}, holdout={100 * acc:.1f}%]\n")
print(f"finished in {time.time() - t_start:.1f}s; chance level 33.3%")
