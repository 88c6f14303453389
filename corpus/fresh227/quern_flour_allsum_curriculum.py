"""Hand-quern flour fineness: data-parallel style regression written for
mx.distributed (runs fine as a single process), with micro-batch gradient
accumulation, a warm-up that starts at lr exactly 0 and a two-stage
curriculum (soft grains first, then hard grains with heavier noise)."""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

world = mx.distributed.init()
RANK, WORLD = world.rank(), world.size()

rng = np.random.default_rng(1207 + RANK)
FEATS = ["stone_gap_mm", "rpm", "moisture_pct", "hardness", "feed_g_s", "dressing_age_d", "dust"]


def make_grain(n, hard):
    gap = rng.uniform(0.2, 1.6, n)
    rpm = rng.uniform(40, 140, n)
    moist = rng.uniform(9, 17, n)
    hardness = rng.uniform(0.6, 1.0, n) if hard else rng.uniform(0.0, 0.5, n)
    feed = rng.uniform(2, 12, n)
    age = rng.uniform(0, 120, n)
    dust = rng.normal(0, 1, n)
    # made-up law: median particle size in micrometres
    size = (180 * gap + 90 * hardness * gap + 3.5 * (moist - 13) ** 2
            - 0.6 * rpm + 4.0 * feed + 0.35 * age * hardness + 120)
    noise = rng.normal(0, 6, n) if not hard else rng.standard_t(3, n) * 9
    X = np.stack([gap, rpm, moist, hardness, feed, age, dust], 1)
    return X.astype(np.float32), (size + noise).astype(np.float32)


Xs, ys = make_grain(3000, hard=False)
Xh, yh = make_grain(3000, hard=True)
Xall = np.concatenate([Xs, Xh])
mu, sd = Xall.mean(0), Xall.std(0)
Y_MU, Y_SD = float(np.concatenate([ys, yh]).mean()), float(np.concatenate([ys, yh]).std())


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - Y_MU) / Y_SD)


# each rank keeps its own slice (with one process that is everything)
Xs_t, ys_t = prep(Xs[RANK::WORLD][:2400], ys[RANK::WORLD][:2400])
Xh_t, yh_t = prep(Xh[RANK::WORLD][:2400], yh[RANK::WORLD][:2400])
Xv, yv = prep(np.concatenate([Xs[2400:], Xh[2400:]]), np.concatenate([ys[2400:], yh[2400:]]))


class QuernNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(5)
model = QuernNet()
mx.eval(model.parameters())

STEPS_PER_STAGE = 260
MICRO = 4
warm = optim.linear_schedule(0.0, 3e-3, 60)
decay = optim.cosine_decay(3e-3, 2 * STEPS_PER_STAGE - 60, 2e-4)
opt = optim.Adamax(learning_rate=optim.join_schedules([warm, decay], [60]))


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def all_avg(g):
    return mx.distributed.all_sum(g, group=world) / WORLD


def stage_data(stage):
    if stage == 1:
        return Xs_t, ys_t
    return mx.concatenate([Xs_t, Xh_t]), mx.concatenate([ys_t, yh_t])


def val_metrics():
    p = model(Xv) * Y_SD + Y_MU
    t = yv * Y_SD + Y_MU
    mae = mx.mean(mx.abs(p - t))
    return mae.item()


baseline_mae = float(np.mean(np.abs(yv * Y_SD + Y_MU - Y_MU)))
t0 = time.time()
step = 0
BS = 32
brng = np.random.default_rng(99 + RANK)
for stage in (1, 2):
    X, Y = stage_data(stage)
    n = X.shape[0]
    for it in range(STEPS_PER_STAGE):
        acc = None
        tot = mx.array(0.0)
        for k in range(MICRO):
            idx = mx.array(brng.integers(0, n, BS))
            l, g = grad_fn(model, X[idx], Y[idx])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            tot = tot + l
            mx.eval(acc, tot)
        grads = tree_map(lambda a: all_avg(a / MICRO), acc)
        opt.update(model, grads)
        train_loss = all_avg(tot / MICRO)
        mx.eval(model.parameters(), opt.state, train_loss)
        step += 1
        if it % 40 == 0 or it == STEPS_PER_STAGE - 1:
            gnorm = sum(float(mx.sum(v * v).item()) for _, v in tree_flatten(grads)) ** 0.5
            rec = {
                "step": step, "stage": stage, "rank": RANK, "world": WORLD,
                "huber": round(train_loss.item(), 5),
                "val_mae_um": round(val_metrics(), 2),
                "ref_mae_um": round(baseline_mae, 2),
                "grad_l2": round(gnorm, 4),
                "lr": float(opt.learning_rate.item()),
            }
            print(json.dumps(rec))
    # audit: a replicated probe must come back unchanged from all_sum/size
    probe = model.out.weight
    diff = mx.max(mx.abs(all_avg(probe) - probe)).item()
    print(f"# audit stage={stage} allreduce_max_abs_diff={diff:.2e} "
          f"param_l2={sum(float(mx.sum(v*v).item()) for _, v in tree_flatten(model.parameters()))**0.5:.3f}")

final = val_metrics()
print(json.dumps({"done": True, "steps": step, "val_mae_um": round(final, 2),
                  "ref_mae_um": round(baseline_mae, 2),
                  "gain_pct": round(100 * (1 - final / baseline_mae), 1),
                  "seconds": round(time.time() - t0, 2)}))
