"""Djembe workshop: predict how far a goatskin head's slap pitch drops (Hz) over a playing
session, and whether the rope needs a pull-down re-tension (yes/no), from synthetic readings.
Multi-task MLP, SGD+Nesterov under warm restarts that start each cycle from lr = 0,
compiled train step, stdlib logging, audit lines every cycle."""
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s djembe | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("djembe")

mx.random.seed(11)
N_TRAIN, N_VAL, F = 1536, 384, 7


def drum_sessions(n):
    # head diameter cm, skin thickness mm, rope tension kN, humidity %, hours played, shell density g/cm3, temp C
    diam = mx.random.uniform(25, 36, (n,))
    skin = mx.random.uniform(0.4, 1.4, (n,))
    rope = mx.random.uniform(0.8, 3.0, (n,))
    hum = mx.random.uniform(20, 90, (n,))
    hours = mx.random.uniform(0.2, 4.0, (n,))
    dens = mx.random.uniform(0.5, 1.0, (n,))
    temp = mx.random.uniform(10, 35, (n,))
    drop = (0.9 * hours * (1 + 0.03 * (hum - 50)) * (diam / 30) / (rope * (0.6 + skin))
            * (1.4 - 0.5 * dens) + 0.02 * (temp - 20) + 0.15 * mx.random.normal((n,)))
    pull = ((drop > 1.0) | (rope < 1.0)).astype(mx.int32)
    X = mx.stack([diam, skin, rope, hum, hours, dens, temp], axis=1)
    return X, drop, pull


Xtr, ytr, ctr = drum_sessions(N_TRAIN)
Xva, yva, cva = drum_sessions(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ymu, ysd = ytr.mean(), ytr.std()


class HeadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(F, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.drop_head = nn.Linear(64, 1)
        self.pull_head = nn.Linear(64, 2)

    def __call__(self, x):
        z = self.trunk(x)
        return self.drop_head(z).squeeze(-1), self.pull_head(z)


def losses(model, X, y, c):
    drop_hat, logits = model(X)
    l_drop = nn.losses.smooth_l1_loss(drop_hat, (y - ymu) / ysd, beta=0.5)
    l_pull = nn.losses.cross_entropy(logits, c, reduction="mean")
    return l_drop + 0.5 * l_pull, (l_drop, l_pull)


model = HeadNet()
CYCLE, CYCLES, BATCH = 60, 4, 64
warm = optim.linear_schedule(0.0, 0.08, 12)           # every cycle begins at exactly lr = 0
cool = optim.cosine_decay(0.08, CYCLE - 12, end=1e-4)
one_cycle = optim.join_schedules([warm, cool], [12])
sched = lambda step: one_cycle(step % CYCLE)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)

state = [model.state, opt.state]


def train_step(X, y, c):
    (total, (lb, lc)), grads = nn.value_and_grad(model, losses)(model, X, y, c)
    gnorm = optim.clip_grad_norm(grads, 1e9)[1]
    opt.update(model, grads)
    return total, lb, lc, gnorm


train_step = mx.compile(train_step, inputs=state, outputs=state)

# check that every trainable tensor gets a gradient before starting
_, g0 = nn.value_and_grad(model, losses)(model, Xtr[:BATCH], ytr[:BATCH], ctr[:BATCH])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
log.info("params %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), zero or "none")

t0 = time.time()
gstep = 0
prev = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
for cycle in range(CYCLES):
    for it in range(CYCLE):
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        total, lb, lc, gn = train_step(Xtr[idx], ytr[idx], ctr[idx])
        mx.eval(state, total)
        gstep += 1
        if it in (0, 6, 20, 40, CYCLE - 1):
            log.info("cycle %d it %02d lr %.4f | total %.4f = drop %.4f + 0.5*pull %.4f | gnorm %.3f",
                     cycle, it, float(sched(mx.array(gstep - 1))), total.item(), lb.item(), lc.item(), gn.item())
    drop_hat, logits = model(Xva)
    mae_mm = mx.abs(drop_hat * ysd + ymu - yva).mean()
    acc = (logits.argmax(-1) == cva).mean()
    base_mae = mx.abs(ymu - yva).mean()
    now = {k: v for k, v in tree_flatten(model.parameters())}
    drift = math.sqrt(sum(((now[k] - prev[k]) ** 2).sum().item() for k in now))
    pnorm = math.sqrt(sum((v ** 2).sum().item() for v in now.values()))
    prev = {k: mx.array(v) for k, v in now.items()}
    log.info("AUDIT cycle %d: val pitch-drop MAE %.3f Hz (mean-predictor %.3f Hz) | pull-down acc %.1f%% "
             "(majority %.1f%%) | |dtheta| %.3f |theta| %.2f",
             cycle, mae_mm.item(), base_mae.item(), 100 * acc.item(),
             100 * max(cva.mean().item(), 1 - cva.mean().item()), drift, pnorm)
log.info("done in %.1fs, %d steps", time.time() - t0, gstep)
