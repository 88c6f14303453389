# Cheese affinage: predict rind moisture loss (%) of a wheel from cave-log readings.
# Curriculum over "cave seasons": young wheels first, then older ones (harder, new regime).
# Each season re-warms the learning rate from exactly 0. Logs are JSON lines via logging.
import json
import logging
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
log = logging.getLogger("affinage")
mx.random.seed(11)


def make_wheels(n, max_age):
    age = mx.random.uniform(2, max_age, (n,))
    rh = mx.random.uniform(80, 98, (n,))
    temp = mx.random.uniform(8, 14, (n,))
    kg = mx.random.uniform(1, 20, (n,))
    turns = mx.random.randint(1, 8, (n,)).astype(mx.float32)
    brine = mx.random.uniform(2, 48, (n,))
    # made-up drying law: fast early loss, slows with age, bigger wheels dry slower,
    # humid caves dry slower; old wheels (>60 d) form a hard rind that stalls drying
    base = 14.0 * (1 - mx.exp(-age / (18 + 1.5 * kg))) * (1.0 + 0.06 * (temp - 11)) * (1.0 - 0.025 * (rh - 89))
    stall = mx.where(age > 60, -0.06 * (age - 60) * (1 + 0.02 * turns * (98 - rh)), 0.0)
    y = base + stall + 0.004 * brine * kg / 10 + 0.3 * mx.random.normal((n,))
    feats = mx.stack([age / 120, (rh - 89) / 5, (temp - 11) / 2, kg / 20, turns / 7, brine / 48], axis=1)
    return feats, y


class RindNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


model = RindNet()
opt = optim.Adamax(learning_rate=0.0)


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


vg = nn.value_and_grad(model, mse)
xv, yv = make_wheels(800, 120)
tol = 0.75  # percentage points
seasons = [("spring", 40, 600), ("summer", 80, 600), ("autumn", 120, 1000)]
peak, warm = 1e-2, 100
t0 = time.time()
for name, max_age, steps in seasons:
    xs, ys = make_wheels(3000, max_age)
    in_range = (xv[:, 0] * 120) <= max_age
    for step in range(steps):  # counter restarts each season
        lr = peak * min(1.0, step / warm)  # exactly 0 on the first step of a season
        opt.learning_rate = lr
        idx = mx.random.randint(0, xs.shape[0], (128,))
        loss, grads = vg(model, xs[idx], ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == steps - 1:
            pv = model(xv)
            err = mx.abs(pv - yv)
            rec = {
                "season": name, "step": step, "lr": round(lr, 6),
                "train_mse": round(loss.item(), 4),
                "val_mae_pp": round(err.mean().item(), 3),
                "baseline_mae_pp": round(mx.abs(yv - yv.mean()).mean().item(), 3),
                "within_tol_pct": round(100 * (err < tol).astype(mx.float32).mean().item(), 1),
                "seen_age_val_mae_pp": round((err * in_range).sum().item() / max(1, in_range.sum().item()), 3),
            }
            log.info(json.dumps(rec))
print(json.dumps({"summary": "affinage done", "seconds": round(time.time() - t0, 1),
                  "final_val_mae_pp": rec["val_mae_pp"], "final_within_tol_pct": rec["within_tol_pct"]}))
