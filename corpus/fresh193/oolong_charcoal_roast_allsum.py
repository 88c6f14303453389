"""Oolong charcoal-roast model: predict post-roast leaf moisture (%) and a cup
bitterness score (0-10) from the roaster's log. Stage 1 = first roast batches,
stage 2 = re-roast batches (older leaf, noisier, a different curve)."""
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s roastlog: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("roast")

group = mx.distributed.init()
log.info("distributed group: rank %d of %d", group.rank(), group.size())
mx.random.seed(group.rank() + 11)


def make_batches(n, reroast):
    # features: charcoal temp (C), hours, start moisture (%), oxidation (%), rest days, basket kg
    k = mx.random.split(mx.random.key(1234 if not reroast else 4321), 3)
    u = mx.random.uniform(shape=(n, 6), key=k[0])
    temp = 80 + 50 * u[:, 0]
    hours = 2 + 10 * u[:, 1]
    moist0 = 4 + 6 * u[:, 2]
    oxid = 10 + 60 * u[:, 3]
    rest = 30 * u[:, 4]
    load = 1 + 4 * u[:, 5]
    dry = 1 - mx.exp(-(temp - 70) * hours / (350 * load ** 0.5))
    moisture = moist0 * (1 - 0.8 * dry) + 0.02 * rest
    bitter = 1.5 + 6 * dry * (0.5 + oxid / 100) - 0.05 * rest
    if reroast:
        moisture = 0.7 * moisture + 0.4
        bitter = bitter + 1.2 * mx.sin(temp / 12.0) + 0.8
    noise = 0.15 if not reroast else 0.4
    y = mx.stack([moisture, bitter], axis=1) + noise * mx.random.normal((n, 2), key=k[1])
    x = mx.stack([temp, hours, moist0, oxid, rest, load], axis=1)
    return x, y


x1, y1 = make_batches(3000, False)
x2, y2 = make_batches(3000, True)
mu, sd = x1.mean(0), x1.std(0)
ymu, ysd = y1.mean(0), y1.std(0)
norm = lambda x: (x - mu) / sd
tr1, va1 = (norm(x1[:2500]), (y1[:2500] - ymu) / ysd), (norm(x1[2500:]), (y1[2500:] - ymu) / ysd)
tr2, va2 = (norm(x2[:2500]), (y2[:2500] - ymu) / ysd), (norm(x2[2500:]), (y2[2500:] - ymu) / ysd)

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 2))
mx.eval(model.parameters())


def loss_fn(model, x, y):
    d = model(x) - y
    return (d * d).mean()


def per_target_rmse(model, x, y):
    # back in real units: % moisture, bitterness points
    d = (model(x) - y) * ysd
    return mx.sqrt((d * d).mean(0))


vg = nn.value_and_grad(model, loss_fn)


def all_reduce_grads(grads):
    n = group.size()
    return nn.utils.tree_map(lambda g: mx.distributed.all_sum(g, group=group) / n, grads)


STEPS = 900
for stage, (tr, va, name) in enumerate([(tr1, va1, "first-roast"), (tr2, va2, "re-roast")], 1):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, STEPS - 40, 1e-4)], [40])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    base = per_target_rmse(lambda x: mx.zeros((x.shape[0], 2)), *va)
    r0 = per_target_rmse(model, *va)
    log.info("stage %d (%s) start | val rmse moisture %.3f%% bitter %.3f pts | mean-predictor %.3f%% %.3f pts",
             stage, name, r0[0].item(), r0[1].item(), base[0].item(), base[1].item())
    x, y = tr
    for step in range(1, STEPS + 1):
        idx = mx.random.randint(0, x.shape[0], (128,))
        loss, grads = vg(model, x[idx], y[idx])
        grads = all_reduce_grads(grads)
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 150 == 0:
            r = per_target_rmse(model, *va)
            log.info("stage %d step %3d | lr %.2e | train mse(z) %.4f | val rmse moisture %.3f%% bitter %.3f pts",
                     stage, step, lr_now, loss.item(), r[0].item(), r[1].item())
    r = per_target_rmse(model, *va)
    log.info("stage %d done | val rmse moisture %.3f%% (baseline %.3f) bitter %.3f pts (baseline %.3f)",
             stage, r[0].item(), base[0].item(), r[1].item(), base[1].item())

rf = per_target_rmse(model, *va1)
log.info("recheck first-roast val after re-roast stage | moisture %.3f%% bitter %.3f pts", rf[0].item(), rf[1].item())
