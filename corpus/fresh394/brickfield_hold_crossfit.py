# Brick kiln yard logs: effect of extra firing-hold minutes (dose) on crushing strength,
# confounded by clay moisture and batch size.  Partially linear model y = theta*d + g(x) + e.
# Two nuisance nets (strength given x, dose given x) are trained side by side on one fold and
# evaluated on the other, then the folds swap (cross-fitting) and an orthogonal estimate is formed.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(23)
mx.random.seed(23)
N, P, THETA = 4000, 6, 0.8
x = rng.normal(size=(N, P)).astype(np.float32)
m0 = 1.2 * np.tanh(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + 0.4 * np.sin(2 * x[:, 3])
g0 = 1.5 * np.tanh(x[:, 0]) + 0.6 * x[:, 1] ** 2 - 0.5 * x[:, 4] + 0.3 * np.cos(x[:, 5])
d = (m0 + rng.normal(0, 1.0, N)).astype(np.float32)            # hold minutes (standardised)
y = (THETA * d + g0 + rng.normal(0, 1.0, N)).astype(np.float32)  # strength (standardised units)

naive = float(np.cov(d, y)[0, 1] / np.var(d, ddof=1))
X_ols = np.column_stack([np.ones(N), d, x])
ols_theta = float(np.linalg.lstsq(X_ols, y, rcond=None)[0][1])
print(f"true theta {THETA:.3f} | naive slope {naive:.3f} | linear-adjusted OLS {ols_theta:.3f}")
print(f"irreducible mse: dose model 1.000, strength model {THETA ** 2 + 1:.3f}")


class Reg(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(P, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def mse(model, xb, tb):
    return mx.mean((model(xb) - tb) ** 2)


folds = np.array_split(rng.permutation(N), 2)
res_d = np.zeros(N, np.float32)
res_y = np.zeros(N, np.float32)
STEPS, BATCH = 500, 100
for k in range(2):
    tr, ho = folds[1 - k], folds[k]
    X_tr, X_ho = mx.array(x[tr]), mx.array(x[ho])
    Y_tr, D_tr = mx.array(y[tr]), mx.array(d[tr])
    out_net, dose_net = Reg(), Reg()
    mx.eval(out_net.parameters(), dose_net.parameters())
    sched = optim.cosine_decay(3e-3, STEPS, 1e-4)
    opt_o, opt_d = optim.Adam(learning_rate=sched), optim.Adam(learning_rate=sched)
    vg_o, vg_d = nn.value_and_grad(out_net, mse), nn.value_and_grad(dose_net, mse)
    print(f"--- fold {k + 1}: fit nuisances on {len(tr)} rows, predict {len(ho)} held-out rows ---")
    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, len(tr), BATCH))
        lo, go = vg_o(out_net, X_tr[idx], Y_tr[idx])
        opt_o.update(out_net, go)
        ld, gd = vg_d(dose_net, X_tr[idx], D_tr[idx])
        opt_d.update(dose_net, gd)
        mx.eval(out_net.parameters(), dose_net.parameters(), opt_o.state, opt_d.state)
        if step % 50 == 0:
            print(f"fold {k + 1} step {step:3d} | strength mse {lo.item():.3f} | dose mse {ld.item():.3f}")
    ho_o = mse(out_net, X_ho, mx.array(y[ho])).item()
    ho_d = mse(dose_net, X_ho, mx.array(d[ho])).item()
    print(f"fold {k + 1} held-out | strength mse {ho_o:.3f} (var {y[ho].var():.3f}) | "
          f"dose mse {ho_d:.3f} (var {d[ho].var():.3f})")
    res_y[ho] = y[ho] - np.array(out_net(X_ho))
    res_d[ho] = d[ho] - np.array(dose_net(X_ho))

theta = float((res_d * res_y).sum() / (res_d ** 2).sum())
psi = (res_y - theta * res_d) * res_d
se = float(np.sqrt(np.mean(psi ** 2)) / np.mean(res_d ** 2) / np.sqrt(N))
print(f"cross-fitted theta {theta:.3f} +- {1.96 * se:.3f} (95%) | true {THETA:.3f} | "
      f"naive {naive:.3f} | linear OLS {ols_theta:.3f}")
