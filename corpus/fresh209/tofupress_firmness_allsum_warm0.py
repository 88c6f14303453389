"""Tofu press line: predict curd firmness (N) of a pressed block from the batch sheet.

Features per block: coagulant dose (g/L nigari), soy-milk Brix, coagulation temp (C),
press time (min), press weight (kg), soak hours.  The "plant law" below is made up.

Data-parallel style script: gradients are averaged with mx.distributed.all_sum over the
group (a single process here, so size 1), and each optimizer step accumulates several
micro-batches of UNEQUAL size, weighted by sample count.  Learning rate warms up from 0.
"""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tofu | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("press")

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()
mx.random.seed(2091 + RANK)


def make_blocks(n):
    dose = mx.random.uniform(1.5, 4.0, (n,))
    brix = mx.random.uniform(8.0, 14.0, (n,))
    temp = mx.random.uniform(65.0, 85.0, (n,))
    ptime = mx.random.uniform(10.0, 40.0, (n,))
    weight = mx.random.uniform(2.0, 12.0, (n,))
    soak = mx.random.uniform(6.0, 16.0, (n,))
    firm = (4.0 + 1.9 * brix / 10.0 * mx.tanh(dose - 1.2)
            + 0.045 * (temp - 65.0) - 0.0009 * (temp - 75.0) ** 2
            + 1.2 * mx.log(1.0 + ptime * weight / 60.0)
            - 0.04 * (soak - 11.0) ** 2 / 4.0)
    firm = firm + 0.15 * mx.random.normal((n,))
    X = mx.stack([dose, brix, temp, ptime, weight, soak], axis=1)
    return X, firm[:, None]


Xtr, ytr = make_blocks(3000)
Xva, yva = make_blocks(600)
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
mx.eval(Xtr, ytr, Xva, yva, ymu, ysd)


class FirmnessNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 96)
        self.mid = nn.Linear(96, 96)
        self.out = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


model = FirmnessNet()
mx.eval(model.parameters())

STEPS = 1500
WARM = 60
sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, WARM),
                              optim.cosine_decay(4e-3, STEPS - WARM, 2e-4)], [WARM])
opt = optim.Adam(learning_rate=sched)


def sum_loss(m, x, y):
    # summed squared error in standardised units; divided by sample count after accumulation
    r = m(x) - (y - ymu) / ysd
    return mx.sum(r * r)


grad_fn = nn.value_and_grad(model, sum_loss)

MICRO = [24, 40, 32, 56]  # uneven micro-batches per optimizer step
per_step = sum(MICRO)


def allreduce(tree):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group), tree)


def val_rmse():
    pred = model(Xva) * ysd + ymu
    return mx.sqrt(mx.mean((pred - yva) ** 2))


base_rmse = mx.sqrt(mx.mean((yva - ymu) ** 2)).item()
log.info("rank %d of %d | blocks train=%d val=%d | micro=%s", RANK, WORLD, Xtr.shape[0], Xva.shape[0], MICRO)
log.info("baseline (press-floor mean) val RMSE %.3f N", base_rmse)

perm = mx.random.permutation(Xtr.shape[0])
cursor = 0
t0 = time.perf_counter()
for step in range(1, STEPS + 1):
    acc = None
    tot = mx.array(0.0)
    count = 0
    for mb in MICRO:
        if cursor + mb > Xtr.shape[0]:
            perm = mx.random.permutation(Xtr.shape[0])
            cursor = 0
        idx = perm[cursor:cursor + mb]
        cursor += mb
        l, g = grad_fn(model, Xtr[idx], ytr[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        tot = tot + l
        count += mb
        mx.eval(acc, tot)
    acc = allreduce(acc)
    n_all = mx.distributed.all_sum(mx.array(float(count)), group=group)
    tot = mx.distributed.all_sum(tot, group=group)
    acc = tree_map(lambda g: g / n_all, acc)
    opt.update(model, acc)
    mx.eval(model.parameters(), opt.state, tot)
    if step == 1:
        nz = sum(1 for _, g in tree_flatten(acc) if mx.abs(g).max().item() > 0)
        log.info("grad audit: %d/%d tensors non-zero, lr at step 1 = %.2e", nz, len(tree_flatten(acc)),
                 opt.learning_rate.item())
    if step % 100 == 0 or step in (1, 30, 60):
        mse_std = (tot / n_all).item()
        v = val_rmse().item()
        log.info("step %3d | lr %.2e | train mse(std) %.4f | val RMSE %.3f N (baseline %.3f, %.1f%% of it)",
                 step, opt.learning_rate.item(), mse_std, v, base_rmse, 100.0 * v / base_rmse)

v = val_rmse().item()
log.info("done in %.1fs, %d samples/step x %d steps; final val RMSE %.3f N vs baseline %.3f",
         time.perf_counter() - t0, per_step * WORLD, STEPS, v, base_rmse)
