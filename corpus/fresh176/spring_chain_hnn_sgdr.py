# Hamiltonian neural network vs. a plain derivative MLP on a two-mass spring chain
# (wall - k1 - m1 - k2 - m2, with a quartic stiffening term on the first spring).
# Both models train side by side in one compiled step; SGD + Nesterov with cosine warm
# restarts (cycles of 150, 300, 600 steps). JSON lines on stdout.
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

np.random.seed(3)
mx.random.seed(3)

M = np.array([1.0, 2.0], dtype=np.float32)
K1, K2, BETA = 1.0, 1.5, 0.4


def true_deriv(s):
    q1, q2, p1, p2 = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    dq1, dq2 = p1 / M[0], p2 / M[1]
    dp1 = -(K1 * q1 + BETA * q1**3) + K2 * (q2 - q1)
    dp2 = -K2 * (q2 - q1)
    return np.stack([dq1, dq2, dp1, dp2], axis=1)


def energy_np(s):
    q1, q2, p1, p2 = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
    return (p1**2 / (2 * M[0]) + p2**2 / (2 * M[1]) + 0.5 * K1 * q1**2 + 0.25 * BETA * q1**4
            + 0.5 * K2 * (q2 - q1) ** 2)


S_tr = np.random.uniform(-1.5, 1.5, size=(4000, 4)).astype(np.float32)
Y_tr = (true_deriv(S_tr) + 0.01 * np.random.randn(4000, 4)).astype(np.float32)
S_va = np.random.uniform(-1.5, 1.5, size=(800, 4)).astype(np.float32)
Y_va = true_deriv(S_va).astype(np.float32)
S_tr, Y_tr, S_va, Y_va = map(mx.array, (S_tr, Y_tr, S_va, Y_va))


class HNN(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, width),
                                 nn.Tanh(), nn.Linear(width, 1, bias=False))  # H is defined up to a constant

    def __call__(self, s):
        dH = mx.grad(lambda z: self.net(z).sum())(s)
        # symplectic gradient: dq/dt = dH/dp, dp/dt = -dH/dq
        return mx.concatenate([dH[:, 2:], -dH[:, :2]], axis=1)


class DerivMLP(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, width),
                                 nn.Tanh(), nn.Linear(width, 4))

    def __call__(self, s):
        return self.net(s)


def mse(model, s, y):
    return mx.mean((model(s) - y) ** 2)


hnn, base = HNN(), DerivMLP()
mx.eval(hnn.parameters(), base.parameters())

cycles = [150, 300, 600]
total = sum(cycles)
pieces, bounds, acc = [], [], 0
for c in cycles:
    pieces.append(optim.cosine_decay(0.05, c, 5e-4))
    acc += c
    bounds.append(acc)
sched = optim.join_schedules(pieces, bounds[:-1])
opt_h = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
opt_b = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

gh_fn = nn.value_and_grad(hnn, mse)
gb_fn = nn.value_and_grad(base, mse)
state = [hnn.state, base.state, opt_h.state, opt_b.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(s, y):
    lh, gh = gh_fn(hnn, s, y)
    lb, gb = gb_fn(base, s, y)
    opt_h.update(hnn, gh)
    opt_b.update(base, gb)
    return lh, lb


def rollout_drift(f, s0, n=300, h=0.05):
    """Roll out with the model's vector field (RK2 midpoint); report |E_T - E_0| / E_0."""
    s = s0
    for _ in range(n):
        k1 = f(s)
        s = s + h * f(s + 0.5 * h * k1)
    mx.eval(s)
    e0, e1 = energy_np(np.array(s0)), energy_np(np.array(s))
    return float(np.median(np.abs(e1 - e0) / e0))


# gradient audit before training
_, g0h = gh_fn(hnn, S_tr[:256], Y_tr[:256])
_, g0b = gb_fn(base, S_tr[:256], Y_tr[:256])
zero = [k for k, v in tree_flatten(g0h) + tree_flatten(g0b) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0h)) + len(tree_flatten(g0b)),
                  "all_zero": zero}))

s_roll = S_va[:32] * 0.7
t0 = time.time()
it, cyc_end = 0, set(bounds)
for epoch in range(10_000):
    perm = mx.array(np.random.permutation(4000))
    for j in range(0, 4000, 200):
        idx = perm[j:j + 200]
        lh, lb = step(S_tr[idx], Y_tr[idx])
        mx.eval(lh, lb, state)
        it += 1
        if it % 50 == 0 or it == 1:
            print(json.dumps({"it": it, "lr": round(float(opt_h.learning_rate), 5),
                              "hnn": round(float(lh), 5), "mlp": round(float(lb), 5)}))
        if it in cyc_end:
            vh, vb = float(mse(hnn, S_va, Y_va)), float(mse(base, S_va, Y_va))
            wn = float(mx.sqrt(sum((v**2).sum() for _, v in tree_flatten(hnn.parameters()))))
            print(json.dumps({"event": "restart_check", "it": it, "val_hnn": round(vh, 5),
                              "val_mlp": round(vb, 5),
                              "drift_hnn": round(rollout_drift(hnn, s_roll), 4),
                              "drift_mlp": round(rollout_drift(base, s_roll), 4),
                              "w_norm_hnn": round(wn, 3)}))
        if it >= total:
            break
    if it >= total:
        break

print(json.dumps({"event": "done", "steps": it, "seconds": round(time.time() - t0, 1)}))
