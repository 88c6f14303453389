# Regression from BINNED targets: each y is only known to lie in a bin [a, b)
# (a sensor that reports a coarse reading). Exact interval-censored Gaussian
# likelihood: -log( Phi((b-mu)/s) - Phi((a-mu)/s) ). Progress uses a spinner.
import math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N, F, SIGMA = 5000, 6, 0.35
X = rng.uniform(-2, 2, size=(N, F)).astype(np.float32)
f_true = np.sin(1.3 * X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] - 0.4 * X[:, 3] ** 2
y = f_true + rng.normal(0, SIGMA, N)
edges = np.linspace(-4.0, 3.0, 15)                      # 0.5-wide bins, open ends
k = np.clip(np.searchsorted(edges, y) - 1, -1, len(edges) - 1)
lo = np.where(k >= 0, edges[np.maximum(k, 0)], -1e4).astype(np.float32)
hi = np.where(k < len(edges) - 1, edges[np.minimum(k + 1, len(edges) - 1)], 1e4).astype(np.float32)
tr, va = slice(0, 4200), slice(4200, N)
Xtr, LOtr, HItr = mx.array(X[tr]), mx.array(lo[tr]), mx.array(hi[tr])
Xva, LOva, HIva = mx.array(X[va]), mx.array(lo[va]), mx.array(hi[va])
f_va = f_true[va]

def Phi(z):
    return 0.5 * (1.0 + mx.erf(z / math.sqrt(2.0)))

class BinnedRegressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(F, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 1))
        self.log_sigma = mx.array([0.0])

    def __call__(self, x):
        return self.body(x).squeeze(-1), mx.exp(self.log_sigma[0])

def interval_nll(model, x, a, b):
    mu, s = model(x)
    p = Phi((b - mu) / s) - Phi((a - mu) / s)
    return -mx.mean(mx.log(mx.maximum(p, 1e-12)))

model = BinnedRegressor()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, interval_nll)
_, g0 = loss_and_grad(model, Xtr[:256], LOtr[:256], HItr[:256])
print("grad check: " + ", ".join(f"{k}={float(mx.abs(v).max()):.2e}" for k, v in tree_flatten(g0)), file=sys.stderr)

# reference: NLL of the TRUE function and sigma on the validation bins
mu_t, s_t = mx.array(f_va.astype(np.float32)), SIGMA
p_t = Phi((HIva - mu_t) / s_t) - Phi((LOva - mu_t) / s_t)
oracle = -mx.mean(mx.log(mx.maximum(p_t, 1e-12))).item()
print(f"bins={len(edges)+1} width=0.5  true sigma={SIGMA}  oracle val NLL={oracle:.4f}  (bin entropy floor, not 0)")

opt = optim.RMSprop(learning_rate=2e-3)
spin = "|/-\\"
t0 = time.time()
step = 0
for epoch in range(1, 26):
    perm = rng.permutation(4200)
    for i in range(0, 4200, 100):
        idx = mx.array(perm[i:i + 100])
        loss, g = loss_and_grad(model, Xtr[idx], LOtr[idx], HItr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % 7 == 0:
            sys.stdout.write(f"\r {spin[(step // 7) % 4]} epoch {epoch:2d} step {step:4d} batch_nll {loss.item():.3f} ")
            sys.stdout.flush()
    if epoch in (1, 2, 5) or epoch % 5 == 0:
        mu, s = model(Xva)
        vnll = interval_nll(model, Xva, LOva, HIva).item()
        rmse_f = float(np.sqrt(np.mean((np.array(mu) - f_va) ** 2)))
        sys.stdout.write(f"\r* epoch {epoch:2d}: val_nll={vnll:.4f} (oracle {oracle:.4f})  rmse_vs_f={rmse_f:.3f}  "
                         f"sigma_hat={s.item():.3f} (true {SIGMA})  {time.time() - t0:5.1f}s\n")
        sys.stdout.flush()
print("done")
