# Orchard frost watch: overnight minimum canopy temperature (degC) from 8 evening readings.
# Three models trained side by side on the same minibatches:
#   full   - MLP on all 8 readings
#   nowind - the same MLP without wind speed and cloud cover (ablation)
#   linear - linear regression baseline
# followed by a permutation feature importance pass on the full model.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

COLS = ["t_2m_18h", "dewpoint", "wind_ms", "cloud_okta", "soil_t", "rh", "slope_deg", "fan_on"]
rng = np.random.default_rng(23)


def make(n):
    t = rng.normal(6, 3, n); dp = t - rng.gamma(2.0, 2.0, n); w = rng.gamma(2.0, 1.2, n)
    cl = rng.integers(0, 9, n).astype(float); soil = t + rng.normal(2, 1.5, n)
    rh = np.clip(100 - 5 * (t - dp), 20, 100); slope = rng.uniform(0, 12, n)
    fan = (rng.random(n) < 0.3).astype(float)
    calm_clear = np.exp(-w / 1.5) * (1 - cl / 8)
    tmin = (0.55 * t + 0.35 * dp + 0.15 * soil - 5.0 * calm_clear
            + 1.8 * fan * calm_clear + 0.08 * slope + rng.normal(0, 0.5, n))
    X = np.stack([t, dp, w, cl, soil, rh, slope, fan], 1).astype(np.float32)
    return X, tmin.astype(np.float32)


Xtr, ytr = make(12000); Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
ym, ys = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ytr_z = mx.array((ytr - ym) / ys)
KEEP_NOWIND = [i for i, c in enumerate(COLS) if c not in ("wind_ms", "cloud_okta")]


class MLP(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a = nn.Linear(d, 64); self.b = nn.Linear(64, 64); self.c = nn.Linear(64, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x))))).squeeze(-1)


class Lin(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.c = nn.Linear(d, 1)

    def __call__(self, x):
        return self.c(x).squeeze(-1)


STEPS, BS, WARM = 1200, 128, 100
warm_cos = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                                 optim.cosine_decay(2e-3, STEPS - WARM, 2e-5)], [WARM])
mx.random.seed(5)
runs = {
    "full":   (MLP(8), optim.Adam(learning_rate=warm_cos), slice(None)),
    "nowind": (MLP(len(KEEP_NOWIND)), optim.Adam(learning_rate=warm_cos), mx.array(KEEP_NOWIND)),
    "linear": (Lin(8), optim.SGD(learning_rate=0.05, momentum=0.9), slice(None)),
}


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


grads = {k: nn.value_and_grad(m, mse) for k, (m, _, _) in runs.items()}


def cols(x, sel):
    return x if isinstance(sel, slice) else x[:, sel]


def val_rmse(model, sel, x=Xva_m):
    p = np.array(model(cols(x, sel))) * ys + ym
    return float(np.sqrt(((p - yva) ** 2).mean()))


print(f"orchard frost watch | nights train {len(ytr)} valid {len(yva)} | readings {len(COLS)} | noise sd 0.50 C")
print(f"climatology (predict train mean) valid RMSE {np.sqrt(((ytr.mean() - yva) ** 2).mean()):.3f} C")
print(f"{'step':>5} {'model':<7} {'lr':>8} {'train_mse_z':>11} {'valid_rmse_C':>12} {'frost_hit_%':>11} {'secs':>6}")
win = {k: [] for k in runs}
t0 = time.time()
cur = 0; order = rng.permutation(len(ytr))
for step in range(1, STEPS + 1):
    if cur + BS > len(ytr):
        order = rng.permutation(len(ytr)); cur = 0
    b = mx.array(order[cur:cur + BS]); cur += BS
    xb, yb = Xtr_m[b], ytr_z[b]
    for k, (model, opt, sel) in runs.items():
        lr_used = opt.learning_rate.item()
        loss, g = grads[k](model, cols(xb, sel), yb)
        if step == 1:
            leaves = tree_flatten(g)
            print(f"    1 {k:<7} grad leaves {len(leaves)} nonzero {sum(mx.abs(v).max().item() > 0 for _, v in leaves)} lr_used {lr_used:.1e}")
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        win[k].append(loss.item())
        if step % 200 == 0:
            p = np.array(model(cols(Xva_m, sel))) * ys + ym
            hit = ((p < 0) == (yva < 0)).mean() * 100
            print(f"{step:>5} {k:<7} {lr_used:>8.1e} {np.mean(win[k][-200:]):>11.4f} "
                  f"{val_rmse(model, sel):>12.3f} {hit:>11.1f} {time.time() - t0:>6.1f}")
# permutation importance of the full model (silent while it runs)
full, _, _ = runs["full"]
base = val_rmse(full, slice(None))
imp = []
for j, c in enumerate(COLS):
    rs = []
    for r in range(5):
        Xp = Xva.copy(); Xp[:, j] = np.random.default_rng(r).permutation(Xp[:, j])
        rs.append(val_rmse(full, slice(None), mx.array(Xp)) - base)
    imp.append((np.mean(rs), c))
print("permutation importance (valid RMSE increase, C):")
for d, c in sorted(imp, reverse=True):
    print(f"  {c:<10} {d:+.3f}")
print("final valid RMSE C: " + ", ".join(f"{k} {val_rmse(m, s):.3f}" for k, (m, _, s) in runs.items())
      + f" | noise floor 0.50 | {time.time() - t0:.1f}s")
