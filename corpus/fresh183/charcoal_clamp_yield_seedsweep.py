"""Charcoal burning in earth clamps: predict the charcoal yield (% of the air-dry
wood mass) of a woodland charcoal clamp from the collier's burn log.
Three seeds, each with a warmup from lr=0, Lion optimizer, compiled step,
one JSON line per 4 epochs, a summary table at the end."""
import json, math, time
from functools import partial
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["wood_moist_pct", "density_kg_m3", "burn_h", "vents_open", "wind_ms", "clamp_m3", "turf_cm"]


def make_burns(n, key):
    ks = mx.random.split(key, 8)
    moist = mx.random.uniform(12, 45, (n,), key=ks[0])
    dens = mx.random.uniform(450, 800, (n,), key=ks[1])
    hours = mx.random.uniform(36, 120, (n,), key=ks[2])
    vents = mx.random.randint(2, 9, (n,), key=ks[3]).astype(mx.float32)
    wind = mx.abs(5 * mx.random.normal((n,), key=ks[4]))
    size = mx.random.uniform(4, 30, (n,), key=ks[5])
    turf = mx.random.uniform(5, 25, (n,), key=ks[6])
    # made-up colliery: wet wood wastes heat, dense wood yields more, an optimum burn
    # length that grows with clamp size, open vents and wind burn charcoal to ash
    opt_h = 40 + 2.4 * size
    pct = (30 - 0.28 * (moist - 20) + 0.012 * (dens - 600)
           - 0.0016 * (hours - opt_h) ** 2 - 0.55 * vents * (1 + 0.04 * wind)
           + 0.18 * turf - 0.06 * mx.maximum(wind - 8, 0) ** 2
           + 0.6 * mx.random.normal((n,), key=ks[7]))
    X = mx.stack([moist, dens, hours, vents, wind, size, turf], axis=1)
    return X, pct


X, y = make_burns(3600, mx.random.key(1761))
Xtr, ytr, Xva, yva = X[:3000], y[:3000], X[3000:], y[3000:]
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
y_mu, y_sd = ytr.mean(), ytr.std()
baseline_mae = mx.abs(yva - y_mu).mean().item()   # "every clamp gives the average yield"


class YieldNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(len(FEATURES), 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), (yb - y_mu) / y_sd, delta=1.0, reduction="mean")


EPOCHS, BS, PEAK = 24, 100, 3e-4
steps_per_epoch = 3000 // BS
summary = []
t0 = time.time()
for seed in (3, 4, 5):
    mx.random.seed(seed)
    model = YieldNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, 3 * steps_per_epoch),
         optim.cosine_decay(PEAK, (EPOCHS - 3) * steps_per_epoch, 1e-5)],
        [3 * steps_per_epoch])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_fn)

    if seed == 3:
        _, g0 = vg(model, Xtr[:BS], ytr[:BS])
        norms = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g0)}
        print(f"grad check: {sum(n > 0 for n in norms.values())}/{len(norms)} tensors non-zero, "
              f"min norm {min(norms.values()):.2e}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    best = None
    for epoch in range(1, EPOCHS + 1):
        perm = mx.random.permutation(3000)
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BS:(i + 1) * BS]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
        if epoch % 4 == 0 or epoch == 1:
            pred = model(Xva) * y_sd + y_mu
            mae = mx.abs(pred - yva).mean().item()
            r2 = 1 - (mx.square(pred - yva).sum() / mx.square(yva - yva.mean()).sum()).item()
            rec = {"seed": seed, "epoch": epoch, "lr": round(float(opt.learning_rate.item()), 7),
                   "huber": round(tot / steps_per_epoch, 5), "val_mae_pct": round(mae, 4),
                   "baseline_mae": round(baseline_mae, 4), "r2": round(r2, 4)}
            print(json.dumps(rec))
            best = rec
    summary.append(best)

print()
print(f"{'seed':>5} {'mae pp':>9} {'baseline':>9} {'r2':>7}")
for r in summary:
    print(f"{r['seed']:>5} {r['val_mae_pct']:>9.3f} {r['baseline_mae']:>9.3f} {r['r2']:>7.3f}")
maes = [r["val_mae_pct"] for r in summary]
print(f"mean mae {sum(maes)/len(maes):.3f} pct-points vs baseline {baseline_mae:.3f} "
      f"({100*(1-sum(maes)/len(maes)/baseline_mae):.1f}% better), {time.time()-t0:.1f}s")
