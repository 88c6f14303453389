# Hierarchical (partially pooled) Gompertz growth curves for 12 field plots, MAP fit:
#   height_ij = A_i * exp(-b_i * exp(-c_i * t_ij)) + noise,  (log A_i, log b_i, log c_i) = mu + offset_i
# offsets get a fixed N(0, 0.25^2) prior. Adam with an exponential lr decay. Progress lines mimic dmesg.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
G, NOISE, TAU = 12, 0.6, 0.25
true_mu = np.array([np.log(30.0), np.log(6.0), np.log(0.12)])
true_off = rng.normal(0, [0.2, 0.15, 0.2], size=(G, 3))
true_par = np.exp(true_mu + true_off)

ts, ys, gs = [], [], []
for g in range(G):
    n = rng.integers(6, 25)  # unbalanced: some plots are measured rarely
    t = np.sort(rng.uniform(0, 60, n))
    A, b, c = true_par[g]
    y = A * np.exp(-b * np.exp(-c * t)) + rng.normal(0, NOISE, n)
    ts.append(t); ys.append(y); gs.append(np.full(n, g))
t_all = mx.array(np.concatenate(ts).astype(np.float32))
y_all = mx.array(np.concatenate(ys).astype(np.float32))
g_all = mx.array(np.concatenate(gs).astype(np.int32))
N = int(t_all.shape[0])


class Growth(nn.Module):
    def __init__(self):
        super().__init__()
        self.mu = mx.array([np.log(20.0), np.log(3.0), np.log(0.05)], dtype=mx.float32)
        self.offset = mx.zeros((G, 3))

    def params(self):
        return mx.exp(self.mu + self.offset)

    def __call__(self, t, g):
        p = self.params()[g]
        return p[:, 0] * mx.exp(-p[:, 1] * mx.exp(-p[:, 2] * t))


def objective(model, t, y, g):
    r = (y - model(t, g)) / NOISE
    nll = 0.5 * mx.sum(r * r) / N
    prior = 0.5 * mx.sum((model.offset / TAU) ** 2) / N
    return nll + prior


model = Growth()
sched = optim.exponential_decay(0.05, 0.999)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, objective)

t0 = time.time()
def klog(msg):
    print(f"[{time.time() - t0:12.6f}] gompertz: {msg}", flush=True)

_, g0 = vg(model, t_all, y_all, g_all)
klog("grad check " + " ".join(f"{k}:max|g|={float(mx.abs(v).max()):.3g}" for k, v in tree_flatten(g0)))
klog(f"{G} plots, {N} measurements (per plot {min(len(t) for t in ts)}-{max(len(t) for t in ts)}), noise sd {NOISE}")
ideal = 0.5  # expected per-point 0.5*(r/sd)^2 at the true curves
klog(f"reference: objective at the noise level ~{ideal:.3f}")

for step in range(1, 4001):
    loss, grads = vg(model, t_all, y_all, g_all)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step in (1, 10, 50) or step % 250 == 0:
        p = np.array(model.params())
        rmse = float(mx.sqrt(mx.mean((y_all - model(t_all, g_all)) ** 2)))
        perr = np.abs(np.log(p) - np.log(true_par)).mean(axis=0)
        klog(f"step={step} obj={loss.item():.4f} rmse={rmse:.3f} lr={opt.learning_rate.item():.4f} "
             f"mean|log err| A={perr[0]:.3f} b={perr[1]:.3f} c={perr[2]:.3f} "
             f"plot0 A={p[0,0]:.1f}({true_par[0,0]:.1f})")
klog("fit complete")
