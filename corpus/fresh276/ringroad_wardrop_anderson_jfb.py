"""Commuter-corridor equilibrium surrogate with a deep-equilibrium layer.

Each sample is a morning peak on a 3-route corridor (ring road / arterial /
old town): total demand, free-flow times, capacities (incidents cut them) and
the drivers' logit sensitivity. The target is the stochastic user equilibrium
(route shares and mean travel time) computed by the method of successive
averages. The network is a DEQ: z* = tanh(W z* + U x + b) with W rescaled to
spectral norm <= 0.9, solved by Anderson acceleration outside the gradient;
the gradient uses one extra application of the layer at z* (Jacobian-free
backprop). Two stages: a loose solver (8 iterations) and then a tight one
(tolerance 1e-4, up to 40 iterations). AdamW under cosine warm restarts.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ----------------------------------------------------------------- data
def equilibrium(demand, t0, cap, theta, iters=400):
    n = demand.shape[0]
    flow = demand[:, None] * np.full((n, 3), 1.0 / 3.0)
    for k in range(1, iters + 1):
        tt = t0 * (1.0 + 0.15 * (flow / cap) ** 4)
        logits = -theta[:, None] * tt
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        flow = flow + (demand[:, None] * p - flow) / k
    tt = t0 * (1.0 + 0.15 * (flow / cap) ** 4)
    share = flow / demand[:, None]
    mean_tt = (share * tt).sum(axis=1)
    return share, mean_tt


def make(n):
    demand = rng.uniform(2.0, 7.0, n)                        # thousand veh/h
    t0 = np.stack([rng.uniform(14, 18, n), rng.uniform(11, 15, n), rng.uniform(9, 13, n)], 1)
    cap = np.stack([rng.uniform(2.5, 3.5, n), rng.uniform(1.4, 2.2, n), rng.uniform(0.7, 1.2, n)], 1)
    incident = rng.random((n, 3)) < 0.12
    cap = np.where(incident, cap * rng.uniform(0.4, 0.7, (n, 3)), cap)
    theta = rng.uniform(0.15, 0.6, n)
    share, mean_tt = equilibrium(demand, t0, cap, theta)
    x = np.concatenate([demand[:, None], t0, np.log(cap), theta[:, None]], 1)
    y = np.concatenate([share, np.log(mean_tt)[:, None]], 1)
    return x.astype(np.float32), y.astype(np.float32)


x_tr, y_tr = make(6000)
x_va, y_va = make(1500)
xm, xs = x_tr.mean(0), x_tr.std(0)
ym, ys = y_tr.mean(0), y_tr.std(0)
norm = lambda a, m, s: (a - m) / s
X_tr, Y_tr = mx.array(norm(x_tr, xm, xs)), mx.array(norm(y_tr, ym, ys))
X_va, Y_va = mx.array(norm(x_va, xm, xs)), mx.array(norm(y_va, ym, ys))

# ridge regression baseline on the same standardised inputs
A = np.concatenate([norm(x_tr, xm, xs), np.ones((len(x_tr), 1), np.float32)], 1)
coef = np.linalg.solve(A.T @ A + 1e-3 * np.eye(A.shape[1]), A.T @ norm(y_tr, ym, ys))
Av = np.concatenate([norm(x_va, xm, xs), np.ones((len(x_va), 1), np.float32)], 1)
ridge_mse = float(np.mean((Av @ coef - norm(y_va, ym, ys)) ** 2))


# ----------------------------------------------------------------- model
class PowerIter:
    """Persistent singular-vector estimates for W (not trained, not saved)."""
    def __init__(self, d):
        self.u = mx.random.normal((d,))
        self.u = self.u / mx.linalg.norm(self.u)


class EquilibriumNet(nn.Module):
    def __init__(self, d_in=8, d=48, d_out=4):
        super().__init__()
        self.W = mx.random.normal((d, d)) * (0.5 / math.sqrt(d))
        self.inj = nn.Linear(d_in, d)
        self.head = nn.Linear(d, d_out)
        self.d = d

    def scaled_W(self, pi):
        W = self.W
        v = mx.stop_gradient(W.T @ pi.u)
        v = v / (mx.linalg.norm(v) + 1e-12)
        u = mx.stop_gradient(W @ v)
        u = u / (mx.linalg.norm(u) + 1e-12)
        pi.u = u
        sigma = u @ W @ v
        return W * mx.minimum(1.0, 0.9 / sigma)

    def cell(self, z, inj, W):
        return mx.tanh(z @ W.T + inj)


def anderson(f, z0, m=5, lam=1e-4, max_iter=40, tol=1e-4):
    xs_, fs_ = [z0], [f(z0)]
    xs_.append(fs_[0])
    fs_.append(f(fs_[0]))
    res = float("inf")
    k = 2
    for k in range(2, max_iter):
        n = min(k, m)
        Xk = mx.stack(xs_[-n:], 1)                       # (B, n, d)
        Fk = mx.stack(fs_[-n:], 1)
        G = Fk - Xk
        H = G @ G.transpose(0, 2, 1) + lam * mx.eye(n)[None]
        ones = mx.ones((G.shape[0], n, 1))
        a = mx.linalg.solve(H, ones, stream=mx.cpu)      # (B, n, 1)
        a = a / mx.sum(a, axis=1, keepdims=True)
        z = mx.sum(a * Fk, axis=1)
        fz = f(z)
        xs_.append(z)
        fs_.append(fz)
        xs_, fs_ = xs_[-m:], fs_[-m:]
        res = (mx.linalg.norm(fz - z, axis=1) / (mx.linalg.norm(fz, axis=1) + 1e-5)).mean().item()
        if res < tol:
            break
    return fs_[-1], k + 1, res


def forward(model, x, pi, solver):
    W = model.scaled_W(pi)
    inj = model.inj(x)
    Wc, injc = mx.stop_gradient(W), mx.stop_gradient(inj)
    z_star, iters, res = anderson(lambda z: model.cell(z, injc, Wc),
                                  mx.zeros((x.shape[0], model.d)), **solver)
    z = model.cell(mx.stop_gradient(z_star), inj, W)   # one differentiable step at the equilibrium
    return model.head(z), iters, res


STAGES = [
    ("loose", dict(max_iter=8, tol=1e-2), 300),
    ("tight", dict(max_iter=40, tol=1e-4), 300),
]
CYCLE = 100          # cosine warm restart every 100 steps
LR_MAX, LR_MIN, BATCH = 2e-3, 5e-5, 128


def lr_at(step):
    c = step % CYCLE
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * c / CYCLE))


model = EquilibriumNet()
pi = PowerIter(model.d)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=LR_MAX, weight_decay=1e-4)
info = {}


def loss_fn(m, x, y, solver):
    pred, it, res = forward(m, x, pi, solver)
    info["it"], info["res"] = it, res
    return mx.mean(mx.square(pred - y))


vg = nn.value_and_grad(model, loss_fn)


def val_mse(solver):
    pred, it, res = forward(model, X_va, pi, solver)
    return float(mx.mean(mx.square(pred - Y_va)).item()), it, res


t0 = time.time()
print(f"ridge baseline val_mse {ridge_mse:.4f}  (targets standardised: 3 route shares + log mean time)")
step = 0
for name, solver, n_steps in STAGES:
    print(f"--- stage {name}: solver {solver}")
    every = 25 if name == "loose" else 100
    for _ in range(n_steps):
        idx = mx.array(rng.choice(X_tr.shape[0], BATCH, replace=False))
        opt.learning_rate = lr_at(step)
        loss, grads = vg(model, X_tr[idx], Y_tr[idx], solver)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step % every == 0:
            v, vit, vres = val_mse(solver)
            print(f"step {step:4d} lr {lr_at(step - 1):.2e} loss {loss.item():.4f} "
                  f"solver_iters {info['it']:2d} rel_residual {info['res']:.1e} | "
                  f"val_mse {v:.4f} (ridge {ridge_mse:.4f}) val_iters {vit}")

v, vit, vres = val_mse(STAGES[-1][1])
pred = np.array(forward(model, X_va, pi, STAGES[-1][1])[0]) * ys + ym
share_mae = float(np.mean(np.abs(pred[:, :3] - y_va[:, :3])))
tt_mape = float(np.mean(np.abs(np.exp(pred[:, 3]) / np.exp(y_va[:, 3]) - 1)))
print(f"final val_mse {v:.4f} vs ridge {ridge_mse:.4f}; route-share MAE {share_mae:.4f}; "
      f"mean-time MAPE {100 * tt_mape:.2f}%; solver iters {vit}, residual {vres:.1e}; "
      f"{time.time() - t0:.1f}s")
