"""Salt-marsh restoration survey: predict Spartina stem density (stems/m^2)
from plot readings.  Stage A fits sheltered plots only; stage B adds the
wave-exposed plots (harder: wave die-off), keeps the input layer frozen and
re-warms the learning rate from zero.  Progress is logged as a markdown table
with a mean-predictor baseline beside the model."""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(2024)
mx.random.seed(2024)

FEATURES = ["elev_cm", "salinity_ppt", "accretion_mm", "inund_pct", "creek_m", "nitrogen", "wave_kw"]


def plot_reading(exposed):
    elev = random.gauss(10, 9)                  # cm relative to mean high water
    sal = random.uniform(18, 38)
    accr = max(0.0, random.gauss(4, 1.5))
    inund = max(0.0, min(100.0, 55 - 2.2 * elev + random.gauss(0, 6)))
    creek = random.expovariate(1 / 25)
    nitro = random.uniform(5, 60)
    wave = random.uniform(1.5, 6.0) if exposed else random.uniform(0.0, 0.3)
    niche = math.exp(-((elev - 12) / 11) ** 2)
    dens = 420 * niche * (1 - 0.012 * max(0.0, sal - 28)) * (0.7 + 0.006 * nitro)
    dens *= 1 + 0.03 * (accr - 4) - 0.004 * creek / 5
    dens *= math.exp(-0.35 * wave * (1 + 0.05 * max(0.0, -elev)))
    dens = max(0.0, dens + random.gauss(0, 18))
    return [elev, sal, accr, inund, creek, nitro, wave], dens


def survey(n, exposed_frac):
    rows = [plot_reading(random.random() < exposed_frac) for _ in range(n)]
    return [r[0] for r in rows], [r[1] for r in rows]


sheltered_x, sheltered_y = survey(3000, 0.0)
mixed_x, mixed_y = survey(4000, 0.5)
val_a_x, val_a_y = survey(800, 0.0)
val_b_x, val_b_y = survey(800, 0.5)

# standardisation from stage-A data (what the field team had first)
cols = list(zip(*sheltered_x))
mu = [sum(c) / len(c) for c in cols]
sd = [max(1e-3, (sum((v - m) ** 2 for v in c) / len(c)) ** 0.5) for c, m in zip(cols, mu)]
sd[FEATURES.index("wave_kw")] = 1.0     # wave is ~0 in stage A: do not blow it up
y_mu = sum(sheltered_y) / len(sheltered_y)
y_sd = (sum((v - y_mu) ** 2 for v in sheltered_y) / len(sheltered_y)) ** 0.5


def tensors(xs, ys):
    x = mx.array([[(v - m) / s for v, m, s in zip(r, mu, sd)] for r in xs])
    y = mx.array([(v - y_mu) / y_sd for v in ys])
    return x, y


class DensityNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(len(FEATURES), 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def report(model, x, y):
    pred = model(x)
    rmse = mx.sqrt(mx.mean((pred - y) ** 2)).item() * y_sd
    base = mx.sqrt(mx.mean((mx.mean(y) - y) ** 2)).item() * y_sd
    r2 = 1 - (rmse / base) ** 2
    return rmse, base, r2


def snapshot(module):
    return {k: mx.array(v) for k, v in tree_flatten(module.parameters())}


def delta_norm(before, module):
    now = dict(tree_flatten(module.parameters()))
    return math.sqrt(sum(mx.sum((now[k] - before[k]) ** 2).item() for k in before))


model = DensityNet()
mx.eval(model.parameters())

stages = [
    ("A-sheltered", tensors(sheltered_x, sheltered_y), tensors(val_a_x, val_a_y), 500, 2e-3, []),
    ("B-exposed", tensors(mixed_x, mixed_y), tensors(val_b_x, val_b_y), 700, 1e-3, ["inp"]),
]

print("| stage | step | lr | train_mse(z) | val_rmse stems/m2 | mean-baseline | R2 % |")
print("|---|---|---|---|---|---|---|")
for name, (tx, ty), (vx, vy), steps, peak, frozen in stages:
    model.unfreeze()
    for f in frozen:
        getattr(model, f).freeze()
    warm = 80
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, steps - warm, peak * 0.05)],
        [warm])
    opt = optim.Adamax(learning_rate=sched)
    step_fn = nn.value_and_grad(model, mse)
    before = {f: snapshot(getattr(model, f)) for f in ["inp", "mid", "out"]}
    n = tx.shape[0]
    for step in range(steps):
        idx = mx.random.randint(0, n, (128,))
        loss, grads = step_fn(model, tx[idx], ty[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps - 1:
            rmse, base, r2 = report(model, vx, vy)
            lr = opt.learning_rate.item()
            print(f"| {name} | {step} | {lr:.2e} | {loss.item():.4f} | {rmse:.1f} | {base:.1f} | {100 * r2:.1f} |")
    gnorm = math.sqrt(sum(mx.sum(g ** 2).item() for _, g in tree_flatten(grads)))
    moved = ", ".join(f"{f}={delta_norm(before[f], getattr(model, f)):.4f}" for f in before)
    print(f"audit {name}: last-step grad norm (trainable) {gnorm:.4f}; weight change {moved}; frozen={frozen or 'none'}")

rmse, base, r2 = report(model, *tensors(val_a_x, val_a_y))
print(f"final check on sheltered plots after stage B: rmse {rmse:.1f} stems/m2 vs baseline {base:.1f} (R2 {100 * r2:.1f}%)")
