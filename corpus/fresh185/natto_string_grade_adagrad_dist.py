"""Natto workshop: grade an incubated tray of natto as under-fermented / good string / over-fermented.

Synthetic incubator logs (5 readings) -> 3-way ferment grade. Two-stage curriculum: the first
stage only sees clearly separated batches, the second stage adds the borderline ones, so the
loss jumps when stage 2 starts. Gradients go through mx.distributed (one process here).
"""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s natto: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("natto")

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()
mx.random.seed(1234 + RANK)


def make_logs(n, seed):
    k = mx.random.split(mx.random.key(seed + 100 * RANK), 3)
    moist0 = mx.random.uniform(70, 82, (n,), key=k[0])          # % bean moisture after steaming
    u = mx.random.uniform(0, 1, (n, 4), key=k[1])
    air = 0.5 + 2.5 * u[:, 0]                                    # spore dose (mg per kg beans)
    temp = 22 + 12 * u[:, 1]                                     # incubator excess over 18 deg C
    rh = 45 + 45 * u[:, 2]                                       # % relative humidity
    hours = 8 + 10 * u[:, 3]                                     # hours incubated
    # made-up fermentation law -> "sweetness index" falls as fermentation proceeds
    loss_rate = 0.55 * mx.sqrt(air) * (1 + 0.04 * (temp - 26)) * (1.6 - rh / 100)
    final = moist0 - loss_rate * hours + 0.6 * mx.random.normal((n,), key=k[2])
    grade = mx.where(final > 68, 0, mx.where(final < 62, 2, 1))  # under / good string / over
    margin = mx.minimum(mx.abs(final - 68), mx.abs(final - 62))
    x = mx.stack([(moist0 - 76) / 3.5, (air - 1.75) / 0.72, (temp - 28) / 3.5,
                  (rh - 67.5) / 13, (hours - 13) / 2.9], axis=1)
    return x, grade.astype(mx.int32), margin


X, Y, M = make_logs(6000, seed=11)
Xv, Yv, _ = make_logs(1500, seed=29)
easy = mx.array([i for i, m in enumerate(M.tolist()) if m > 1.5])
majority = max((Yv == c).sum().item() for c in range(3)) / Yv.shape[0]


class NattoGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        return self.out(nn.tanh(self.l2(nn.tanh(self.l1(x)))))


model = NattoGrader()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.03)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def step(x, y):
    loss, grads = vg(model, x, y)
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
    opt.update(model, grads)
    return loss, grads


def evaluate():
    logits = model(Xv)
    ce = nn.losses.cross_entropy(logits, Yv, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == Yv).mean()
    return ce.item(), 100 * acc.item()


log.info("world=%d rank=%d  train=%d (easy %d)  val=%d  majority-grade baseline %.1f%%",
         WORLD, RANK, X.shape[0], easy.shape[0], Xv.shape[0], 100 * majority)
stages = [("stage-1 clear trays", easy, 12), ("stage-2 all trays", mx.arange(X.shape[0]), 18)]
bs = 128
for sname, pool, epochs in stages:
    for ep in range(1, epochs + 1):
        perm = pool[mx.random.permutation(pool.shape[0])]
        tot, nb = 0.0, 0
        for s in range(0, perm.shape[0] - bs + 1, bs):
            idx = perm[s:s + bs]
            loss, grads = step(X[idx], Y[idx])
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
            if ep == 1 and nb == 1 and sname.startswith("stage-1"):
                dead = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0]
                log.info("grad audit: %d tensors, %d all-zero", len(tree_flatten(grads)), len(dead))
        vce, vacc = evaluate()
        if ep in (1, 2) or ep % 4 == 0 or ep == epochs:
            log.info("%s ep %02d/%02d  train ce %.4f  val ce %.4f  val acc %5.1f%% (baseline %.1f%%)",
                     sname, ep, epochs, tot / nb, vce, vacc, 100 * majority)

vce, vacc = evaluate()
log.info("final: val ce %.4f nats (uniform %.4f), val acc %.1f%%", vce, math.log(3), vacc)
