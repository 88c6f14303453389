"""Sea-ice concentration from five passive-microwave brightness temperatures.

Beta regression (learned mean and precision) trained in stages: clear-sky
swaths first, then stormy swaths where water vapour brightens open water,
then a cosine cool-down.  Validation is always on the stormy set.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(1579)

# tie points (K) for 19V 19H 37V 37H 89V
TB_WATER = np.array([185.0, 117.0, 210.0, 150.0, 240.0])
TB_ICE = np.array([250.0, 235.0, 245.0, 230.0, 235.0])
VAPOUR = np.array([55.0, 95.0, 70.0, 105.0, 30.0])


def swaths(n, vapour_max):
    kind = rng.choice(3, size=n, p=[0.3, 0.4, 0.3])
    c = np.where(kind == 0, rng.beta(1.0, 18.0, n),
                 np.where(kind == 1, rng.beta(18.0, 1.5, n), rng.uniform(0, 1, n)))
    w = rng.uniform(0, vapour_max, n)
    ice_t = 1.0 + 0.03 * rng.standard_normal(n)
    tb = (c[:, None] * TB_ICE[None] * ice_t[:, None]
          + (1 - c[:, None]) * (TB_WATER[None] + w[:, None] * VAPOUR[None])
          + 1.5 * rng.standard_normal((n, 5)))
    return tb.astype(np.float32), np.clip(c, 0.005, 0.995).astype(np.float32)


Xc, yc = swaths(3000, 0.1)
Xs, ys = swaths(3000, 1.0)
Xv, yv = swaths(1000, 1.0)
mu_x = np.concatenate([Xc, Xs]).mean(0)
sd_x = np.concatenate([Xc, Xs]).std(0)


def norm(x):
    return mx.array((x - mu_x) / sd_x)


Xc_m, Xs_m, Xv_m = norm(Xc), norm(Xs), norm(Xv)
yc_m, ys_m, yv_m = mx.array(yc), mx.array(ys), mx.array(yv)

# tie-point baseline: average of per-channel linear unmixing on 19V and 37V
base = np.clip(((Xv[:, 0] - TB_WATER[0]) / (TB_ICE[0] - TB_WATER[0])
                + (Xv[:, 2] - TB_WATER[2]) / (TB_ICE[2] - TB_WATER[2])) / 2, 0, 1)
base_rmse = 100 * float(np.sqrt(np.mean((base - yv) ** 2)))

LANCZOS = [0.99999999999980993, 676.5203681218851, -1259.1392167224028,
           771.32342877765313, -176.61502916214059, 12.507343278686905,
           -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]


def lgamma(z):
    # Lanczos approximation, valid for z > 0.5 (precisions here are > 1)
    z = z - 1.0
    a = LANCZOS[0]
    for i in range(1, 9):
        a = a + LANCZOS[i] / (z + i)
    t = z + 7.5
    return 0.5 * math.log(2 * math.pi) + (z + 0.5) * mx.log(t) - t + mx.log(a)


class BetaHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU())
        self.mean = nn.Linear(32, 1)
        self.prec = nn.Linear(32, 1)

    def __call__(self, x):
        h = self.body(x)
        m = mx.sigmoid(self.mean(h)[:, 0])
        m = mx.clip(m, 1e-4, 1 - 1e-4)
        phi = 1.5 + nn.softplus(self.prec(h)[:, 0])
        return m, phi


def beta_nll(model, x, y):
    m, phi = model(x)
    a, b = m * phi, (1 - m) * phi
    ll = (lgamma(phi) - lgamma(a) - lgamma(b)
          + (a - 1) * mx.log(y) + (b - 1) * mx.log(1 - y))
    return -mx.mean(ll)


model = BetaHead()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
loss_and_grad = nn.value_and_grad(model, beta_nll)

# one-off audit: every trainable tensor must receive gradient
_, g0 = loss_and_grad(model, Xc_m[:256], yc_m[:256])
flat = dict(nn.utils.tree_flatten(g0))
print("# grad audit: " + ", ".join(f"{k}={float(mx.linalg.norm(v)):.2e}" for k, v in flat.items()))

STAGES = [("clear", 300, "clear"), ("storm", 300, "mix"), ("cooldown", 200, "mix")]
PEAK, WARM, BATCH = 4e-3, 60, 128


def lr_at(stage, i, n):
    if stage == "clear":
        return PEAK * min(1.0, i / WARM)  # starts at exactly 0
    if stage == "storm":
        return PEAK
    return 0.5 * PEAK * (1 + math.cos(math.pi * i / n))


def val_metrics():
    m, _ = model(Xv_m)
    err = np.abs(np.array(m) - yv)
    return (100 * float(np.sqrt(np.mean(err ** 2))), 100 * float(np.mean(err < 0.10)),
            float(beta_nll(model, Xv_m, yv_m)))


for stage, n_steps, pool in STAGES:
    for i in range(n_steps):
        if pool == "clear":
            idx = mx.array(rng.integers(0, len(yc), BATCH))
            xb, yb = Xc_m[idx], yc_m[idx]
        else:
            idx = mx.array(rng.integers(0, len(ys), BATCH))
            xb, yb = Xs_m[idx], ys_m[idx]
        opt.learning_rate = lr_at(stage, i, n_steps)
        loss, grads = loss_and_grad(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if i % 50 == 0 or i == n_steps - 1:
            rmse, within, vnll = val_metrics()
            print(json.dumps({"stage": stage, "step": i, "lr": round(float(opt.learning_rate), 6),
                              "beta_nll": round(loss.item(), 4), "val_beta_nll": round(vnll, 4),
                              "val_rmse_pct": round(rmse, 2), "tiepoint_rmse_pct": round(base_rmse, 2),
                              "within10_pct": round(within, 1)}))

rmse, within, vnll = val_metrics()
print(f"# stormy validation: rmse {rmse:.2f} pp vs tie-point {base_rmse:.2f} pp, "
      f"{within:.1f}% of swaths within 10 pp, beta nll {vnll:.3f}")
