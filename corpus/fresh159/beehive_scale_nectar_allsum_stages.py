# Hive-scale nectar-flow model: predict tomorrow's net nectar gain (kg) for a
# colony on a weighing scale from today's scale and weather readings.
# Two-stage curriculum: calm fair-weather days first, then every day of the
# season (rain, heat waves, dearth) -- the loss jumps when stage 2 opens.
# Gradients go through mx.distributed (one process here, same code on many).
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

group = mx.distributed.init()
WORLD = group.size()
RANK = group.rank()
mx.random.seed(611 + RANK)


def make_days(n, key):
    k = mx.random.split(key, 7)
    dawn_kg = mx.random.uniform(28.0, 82.0, (n,), key=k[0])
    night_loss = mx.random.uniform(0.1, 0.9, (n,), key=k[1])
    tmax = mx.random.uniform(6.0, 36.0, (n,), key=k[2])
    rain = mx.maximum(mx.random.normal((n,), key=k[3]) * 6.0 - 1.0, 0.0)
    sun_h = mx.random.uniform(0.0, 13.0, (n,), key=k[4])
    season = mx.random.uniform(0.0, 1.0, (n,), key=k[5])
    # made-up nectar law (kg/day): bloom curve x sunshine x temperature window
    bloom = mx.exp(-((season - 0.45) ** 2) / 0.03)
    temp_ok = mx.exp(-((tmax - 24.0) ** 2) / 60.0)
    forage = 4.0 * bloom * temp_ok * (sun_h / 13.0) * (dawn_kg / 60.0)
    washout = 1.0 / (1.0 + 0.35 * rain)
    fanning = 1.4 * mx.maximum(tmax - 29.0, 0.0) / 7.0      # heat: bees burn stores
    soaked = 0.05 * mx.maximum(rain - 4.0, 0.0)              # wet boxes weigh more
    gain = forage * washout - 0.8 * night_loss - fanning + soaked
    noise_sd = 0.06 + 0.02 * mx.minimum(rain, 8.0)
    gain = gain + noise_sd * mx.random.normal((n,), key=k[6])
    calm = (rain < 0.5) & (tmax > 15.0) & (tmax < 29.0)
    x = mx.stack([
        (dawn_kg - 55.0) / 15.0,
        (night_loss - 0.5) / 0.25,
        (tmax - 21.0) / 9.0,
        mx.log1p(rain) - 0.6,
        (sun_h - 6.5) / 3.7,
        (season - 0.5) / 0.29,
    ], axis=1)
    return x, gain[:, None], calm


class NectarNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h)) + h
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)


key = mx.random.key(2024)
ktr, kva = mx.random.split(key, 2)
xtr, ytr, calm_tr = make_days(6000, ktr)
xva, yva, _ = make_days(1500, kva)
mx.eval(xtr, ytr, calm_tr, xva, yva)

calm_idx = mx.array([i for i, c in enumerate(calm_tr.tolist()) if c])
all_idx = mx.arange(xtr.shape[0])
naive_mae = mx.abs(yva - ytr.mean()).mean().item()

model = NectarNet()
mx.eval(model.parameters())
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95, eps=1e-6)
vg = nn.value_and_grad(model, loss_fn)

stages = [("calm-days", calm_idx, 500), ("full-season", all_idx, 900)]
print(f"hive-scale nectar model | world={WORLD} rank={RANK} | calm train days={calm_idx.size} of {xtr.shape[0]}")
print(f"naive (train-mean) val MAE = {naive_mae:.3f} kg")
print("| stage       | step | batch_huber | val_mae_kg | naive_kg | val_rmse_kg |")
print("|-------------|------|-------------|------------|----------|-------------|")
for sname, pool, nsteps in stages:
    for step in range(1, nsteps + 1):
        pick = mx.random.randint(0, pool.size, (128,))
        idx = pool[pick]
        loss, grads = vg(model, xtr[idx], ytr[idx])
        grads = allreduce_mean(grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 100 == 0:
            pv = model(xva)
            mae = mx.abs(pv - yva).mean().item()
            rmse = math.sqrt(((pv - yva) ** 2).mean().item())
            print(f"| {sname:<11} | {step:4d} | {loss.item():11.4f} | {mae:10.3f} | {naive_mae:8.3f} | {rmse:11.3f} |")

# audit: every weight must have moved from a zero-free gradient path
_, g_last = vg(model, xva[:256], yva[:256])
gn = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g_last)}
print("grad-norm audit:", " ".join(f"{k}={v:.2e}" for k, v in gn.items()))
final_mae = mx.abs(model(xva) - yva).mean().item()
print(f"final val MAE {final_mae:.3f} kg vs naive {naive_mae:.3f} kg "
      f"({100.0 * (1 - final_mae / naive_mae):.1f}% better)")
