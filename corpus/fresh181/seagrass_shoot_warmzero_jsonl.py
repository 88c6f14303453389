"""Seagrass meadow survey: shoot density from dive-transect readings.

Stage "clear" trains on clear-water bay quadrats only; stage "estuary" adds the
turbid estuary quadrats (a harder, differently behaving regime), so the
validation error over all quadrats jumps when the stage changes before it
comes down again.  Learning rate ramps up from exactly 0 at the start of each
stage.  Early stopping on validation with restore of the best weights.
"""
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(7)
mx.random.seed(7)

FEATURES = ["depth_m", "kd_per_m", "temp_c", "salinity_psu", "mud_pct",
            "epiphyte_gm2", "din_umol"]


def quadrat(turbid):
    depth = random.uniform(0.5, 6.0)
    kd = random.uniform(0.8, 2.2) if turbid else random.uniform(0.15, 0.7)
    temp = random.gauss(17.0, 3.0)
    sal = random.uniform(12, 28) if turbid else random.uniform(29, 35)
    mud = random.uniform(20, 70) if turbid else random.uniform(2, 25)
    epi = max(0.0, random.gauss(15 if turbid else 6, 4))
    din = max(0.1, random.gauss(18 if turbid else 4, 3))
    light = math.exp(-kd * depth)                     # fraction of surface light
    logd = (6.4 + 2.1 * math.tanh(4 * (light - 0.25)) - 0.012 * mud
            - 0.03 * epi - 0.0015 * (temp - 18) ** 2 * 10
            + (0.4 * math.exp(-((sal - 22) / 5) ** 2) if turbid else 0.0)
            - (0.025 * din if turbid else 0.0)
            + random.gauss(0, 0.12))
    return [depth, kd, temp, sal, mud, epi, din], logd


def make(n, turbid):
    rows = [quadrat(turbid) for _ in range(n)]
    return [r[0] for r in rows], [r[1] for r in rows]


cx, cy = make(1400, False)
tx, ty = make(1400, True)
vcx, vcy = make(300, False)
vtx, vty = make(300, True)

allx = cx + tx
mu = [sum(c) / len(allx) for c in zip(*allx)]
sd = [max(1e-6, (sum((v - m) ** 2 for v in c) / len(allx)) ** 0.5) for c, m in zip(zip(*allx), mu)]


def norm(x):
    return mx.array([[(v - m) / s for v, m, s in zip(r, mu, sd)] for r in x])


Xc, Yc = norm(cx), mx.array(cy)
Xt, Yt = norm(tx), mx.array(ty)
Xv = norm(vcx + vtx)
Yv = mx.array(vcy + vty)


class ShootNet(nn.Module):
    def __init__(self, d=7, h=64):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


model = ShootNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

STAGES = [("clear", Xc, Yc, 25), ("estuary", mx.concatenate([Xc, Xt]), mx.concatenate([Yc, Yt]), 60)]
BATCH = 128
PATIENCE = 10

best = {"val": float("inf"), "params": None, "stage": None, "epoch": None}
first_grads_checked = False
for stage, X, Y, epochs in STAGES:
    steps_per_epoch = (X.shape[0] + BATCH - 1) // BATCH
    warm = optim.linear_schedule(0.0, 1.0, 3 * steps_per_epoch)
    decay = optim.cosine_decay(1.0, epochs * steps_per_epoch, 0.05)
    sched = optim.join_schedules([warm, decay], [3 * steps_per_epoch])
    opt = optim.AdaDelta(learning_rate=sched, rho=0.95, eps=1e-6)
    stale = 0
    stage_best = float("inf")
    for ep in range(1, epochs + 1):
        perm = mx.array(random.sample(range(X.shape[0]), X.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, X.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = vg(model, X[idx], Y[idx])
            if not first_grads_checked:
                zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
                print(json.dumps({"event": "grad_check", "zero_grad_params": zero,
                                  "n_params": len(tree_flatten(grads))}))
                first_grads_checked = True
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        pv = model(Xv)
        vmae = mx.mean(mx.abs(pv - Yv)).item()
        vrmse_pct = 100 * math.sqrt(mx.mean((mx.exp(pv - Yv) - 1) ** 2).item())
        rec = {"stage": stage, "epoch": ep, "lr": round(float(opt.learning_rate), 5),
               "train_huber": round(tot / nb, 5), "val_mae_log": round(vmae, 4),
               "val_dens_err_pct": round(vrmse_pct, 2)}
        print(json.dumps(rec))
        if vmae < stage_best - 1e-4:
            stage_best = vmae
            stale = 0
            if stage == STAGES[-1][0] and vmae < best["val"]:
                best = {"val": vmae, "params": tree_map(lambda a: a, model.parameters()),
                        "stage": stage, "epoch": ep}
        else:
            stale += 1
        if stale >= PATIENCE and stage == STAGES[-1][0]:
            print(json.dumps({"event": "early_stop", "stage": stage, "epoch": ep,
                              "best_epoch": best["epoch"]}))
            break

model.update(best["params"])
mx.eval(model.parameters())
final = mx.mean(mx.abs(model(Xv) - Yv)).item()
base = mx.mean(mx.abs(mx.mean(Yc) - Yv)).item()
print(json.dumps({"event": "restored", "best_stage": best["stage"], "best_epoch": best["epoch"],
                  "val_mae_log": round(final, 4), "mean_baseline_mae_log": round(base, 4)}))
