"""Solar sea-salt pans: daily harvest (kg per m^2) from weather and brine readings.

Effective batch 128 built from 8 micro-batches of 16; the averaged gradient is
clipped to a global norm of 0.25 before each RMSprop step.  The learning rate
follows cosine warm restarts (cycles of 150, 300, 600 updates).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)
FEATS = ["sun_h", "wind_ms", "rh_pct", "air_c", "brine_be", "depth_cm", "rain_mm"]


def make_days(n):
    sun = rng.uniform(2, 14, n)
    wind = rng.gamma(2.0, 2.0, n)
    rh = rng.uniform(35, 95, n)
    air = rng.normal(24, 5, n)
    be = rng.uniform(18, 27, n)            # brine strength, degrees Baume
    depth = rng.uniform(2, 12, n)
    rain = rng.exponential(1.0, n) * (rng.random(n) < 0.2)
    evap = 0.045 * sun * (1 + 0.12 * wind) * (1 - rh / 110) * np.exp(0.03 * (air - 20))
    sat = 1 / (1 + np.exp(-(be - 24.5) * 1.3))       # salt drops out only near saturation
    y = 2.4 * evap * sat * np.clip(depth / 6, 0.3, 1.4) - 0.08 * rain
    y = np.maximum(y, 0) + rng.normal(0, 0.05, n)
    X = np.stack([sun, wind, rh, air, be, depth, rain], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_days(12000)
Xva, yva = make_days(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, ytr_m, Xva_m, yva_m = map(mx.array, (Xtr, ytr, Xva, yva))


class HarvestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 64)
        self.n1 = nn.LayerNorm(64)
        self.hid = nn.Linear(64, 64)
        self.n2 = nn.LayerNorm(64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.n1(self.inp(x)))
        h = h + nn.gelu(self.n2(self.hid(h)))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


mx.random.seed(5)
model = HarvestNet()
mx.eval(model.parameters())

PEAK, FLOOR = 3e-3, 3e-5
cycles = [150, 300, 600]
sched = optim.join_schedules(
    [optim.cosine_decay(PEAK, c, FLOOR) for c in cycles],
    list(np.cumsum(cycles[:-1]).tolist()),
)
opt = optim.RMSprop(learning_rate=sched, alpha=0.99)
grad_fn = nn.value_and_grad(model, mse)

MICRO, NMICRO, MAXN = 16, 8, 0.25
TOTAL = sum(cycles)
base_mae = float(np.mean(np.abs(yva - ytr.mean())))
print("# saltpan harvest | days train=%d val=%d | features=%s" % (len(ytr), len(yva), ",".join(FEATS)))
print("# micro=%d x %d per update, global clip %.2f, RMSprop, restarts after %s" % (MICRO, NMICRO, MAXN, cycles[:-1]))
print("# climatology MAE (predict the mean) = %.4f kg/m2" % base_mae)
print("upd\tcycle\tlr\ttrain_mse\tval_mse\tval_mae\tbase_mae\tclip_share\tpre_norm")

perm = rng.permutation(len(ytr))
cursor = 0
win_loss, win_clip, win_norm, win_n = 0.0, 0, 0.0, 0
t0 = time.time()
bounds = set(np.cumsum(cycles).tolist())
report = {25, 75} | bounds | {450 + 75, 450 + 225}
for upd in range(1, TOTAL + 1):
    acc = None
    loss_sum = 0.0
    for _ in range(NMICRO):
        if cursor + MICRO > len(perm):
            perm = rng.permutation(len(ytr))
            cursor = 0
        idx = mx.array(perm[cursor:cursor + MICRO])
        cursor += MICRO
        loss, g = grad_fn(model, Xtr_m[idx], ytr_m[idx])
        acc = g if acc is None else tree_map(mx.add, acc, g)
        mx.eval(acc, loss)
        loss_sum += loss.item()
    acc = tree_map(lambda a: a / NMICRO, acc)
    if upd == 1:
        leaves = tree_flatten(acc)
        zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
        print("# first update: %d gradient arrays, %d all-zero" % (len(leaves), len(zero)))
    clipped, norm = optim.clip_grad_norm(acc, MAXN)
    opt.update(model, clipped)
    mx.eval(model.parameters(), opt.state, norm)
    n = norm.item()
    win_loss += loss_sum / NMICRO
    win_clip += int(n > MAXN)
    win_norm += n
    win_n += 1
    if upd in report:
        cyc = 1 + sum(upd > b for b in sorted(bounds) if b < TOTAL)
        pv = model(Xva_m)
        vm = mx.mean((pv - yva_m) ** 2).item()
        va = mx.mean(mx.abs(pv - yva_m)).item()
        lr_used = float(sched(mx.array(upd - 1)))
        print("%d\t%d\t%.2e\t%.5f\t%.5f\t%.4f\t%.4f\t%.0f%%\t%.3f" % (
            upd, cyc, lr_used, win_loss / win_n, vm, va, base_mae,
            100.0 * win_clip / win_n, win_norm / win_n))
        win_loss, win_clip, win_norm, win_n = 0.0, 0, 0.0, 0

pv = model(Xva_m)
va = mx.mean(mx.abs(pv - yva_m)).item()
print("# done in %.1fs | val MAE %.4f vs climatology %.4f (%.0f%% of it) | noise sd 0.05" % (
    time.time() - t0, va, base_mae, 100 * va / base_mae))
