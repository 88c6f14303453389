# Hydrant flow tests: residual pressure (psi) at the test hydrant from 7 sheet fields.
# Heavy-tailed gauge readings, so the model gives a location and a scale and is fitted
# with the Student-t (nu = 4) negative log-likelihood in standardised units (it goes
# below zero). Stage A fits everything; stage B keeps the trunk and location head as
# they are (frozen) and refits only the scale head with a fresh optimizer.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
def make(n):
    static = rng.uniform(60, 110, n)            # psi
    diam = rng.choice([4.0, 6.0, 8.0, 12.0], n)   # inches
    flow = rng.uniform(500, 2000, n)              # gpm
    dist = rng.uniform(50, 1500, n)               # ft to the flowing hydrant
    age = rng.uniform(0, 90, n)                   # years
    elev = rng.normal(0, 15, n)                   # ft
    loop = rng.random(n) < 0.6                    # looped main
    C = 140 - 0.9 * age
    hw = 4.52 * dist * (flow / (1 + loop)) ** 1.85 / (C ** 1.85 * diam ** 4.87)
    hl = 45 * (1 - np.exp(-hw / 30))              # drop saturates as the flowing hydrant starves
    resid = static - hl - 0.433 * elev
    noise = (0.8 + 0.04 * age) * rng.standard_t(4, n)
    y = np.clip(resid + noise, 5, None)
    X = np.stack([static, diam, flow / 100, np.log(dist), age, elev, loop.astype(float)], 1)
    return X.astype(np.float32), y.astype(np.float32)
Xtr, ytr = make(6000); Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0); ym, ys = ytr.mean(), ytr.std()
Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
ytr_m, yva_m = mx.array((ytr - ym) / ys), mx.array((yva - ym) / ys)

NU = 4.0
CONST = -math.lgamma((NU + 1) / 2) + math.lgamma(NU / 2) + 0.5 * math.log(NU * math.pi)
class FlowTest(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(7, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.loc = nn.Linear(64, 1)
        self.logscale = nn.Linear(64, 1)
    def __call__(self, x):
        h = self.trunk(x)
        return self.loc(h)[:, 0], mx.clip(self.logscale(h)[:, 0], -6, 3)
def t_nll(model, x, y):
    m, ls = model(x)
    z = (y - m) * mx.exp(-ls)
    return mx.mean(CONST + ls + (NU + 1) / 2 * mx.log1p(z * z / NU))

# reference: ordinary least squares on the same standardised fields
A = np.c_[(Xtr - mu) / sd, np.ones(len(Xtr))]
coef = np.linalg.lstsq(A, ytr, rcond=None)[0]
ols_mae = np.abs(np.c_[(Xva - mu) / sd, np.ones(len(Xva))] @ coef - yva).mean()
q95 = 2.132  # Student-t nu=4 two-sided 90% point

def report(model, stage, epoch, lr, tr_loss, extra=None):
    m, ls = model(Xva_m)
    vl = t_nll(model, Xva_m, yva_m).item()
    m_psi = np.array(m) * ys + ym; s_psi = np.exp(np.array(ls)) * ys
    cover = (np.abs(yva - m_psi) <= q95 * s_psi).mean() * 100
    print("---")
    print(f"stage: {stage}\nepoch: {epoch}\nlr: {lr:.3g}")
    print(f"train_t_nll: {tr_loss:.4f}\nvalid_t_nll: {vl:.4f}")
    print(f"valid_mae_psi: {np.abs(m_psi - yva).mean():.3f}\nols_mae_psi: {ols_mae:.3f}")
    print(f"band90_coverage_pct: {cover:.1f}\nband90_mean_width_psi: {2 * q95 * s_psi.mean():.2f}")
    for k, v in (extra or {}).items():
        print(f"{k}: {v}")

mx.random.seed(5)
model = FlowTest()
t0 = time.time()
def run_stage(stage, opt, epochs, first_epoch):
    lg = nn.value_and_grad(model, t_nll)
    n = Xtr_m.shape[0]
    for ep in range(first_epoch, first_epoch + epochs):
        perm = mx.array(rng.permutation(n))
        losses = []
        for i in range(0, n, 100):
            b = perm[i:i + 100]
            loss, g = lg(model, Xtr_m[b], ytr_m[b])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        if ep % 4 == 0 or ep == first_epoch + epochs - 1:
            report(model, stage, ep, opt.learning_rate.item(), float(np.mean(losses)))

report(model, "untrained", 0, 0.0, float("nan"))
opt = optim.Adamax(learning_rate=optim.cosine_decay(4e-3, 60 * 24, 4e-4))
run_stage("A_all", opt, 24, 1)
keep = {k: np.array(v) for k, v in tree_flatten(model.parameters()) if not k.startswith("logscale")}
model.trunk.freeze(); model.loc.freeze()
print("---")
print(f"note: stage B trainable leaves {len(tree_flatten(model.trainable_parameters()))} of {len(tree_flatten(model.parameters()))}")
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.0)
run_stage("B_scale_only", opt, 12, 25)
drift = max(float(np.abs(np.array(v) - keep[k]).max()) for k, v in tree_flatten(model.parameters()) if k in keep)
print("---")
print(f"done: true\nfrozen_max_change: {drift}\nseconds: {time.time() - t0:.1f}")
