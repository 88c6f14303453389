# Hamiltonian neural network on a noisy ideal pendulum.
# The network outputs a scalar H(q, p); the vector field is its symplectic
# gradient (dH/dp, -dH/dq), obtained with mx.grad w.r.t. the INPUTS inside the
# loss, which is then differentiated again w.r.t. the weights.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)

# ground truth: H = p^2/2 + (1 - cos q) (pendulum); data are (q, p) states with
# noisy measured time derivatives, like a real recorded trajectory set
N = 1500
Q = mx.random.uniform(-2.5, 2.5, (N, 1))
P = mx.random.uniform(-2.0, 2.0, (N, 1))
X = mx.concatenate([Q, P], axis=1)
DX = mx.concatenate([P, -mx.sin(Q)], axis=1) + 0.05 * mx.random.normal((N, 2))
X_val = X[:300]
DX_val = mx.concatenate([X_val[:, 1:2], -mx.sin(X_val[:, 0:1])], axis=1)   # clean targets
X_tr, DX_tr = X[300:], DX[300:]


class HNN(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        # no bias on the energy head: a constant offset of H has no effect on the dynamics
        self.head = nn.Linear(hidden, 1, bias=False)

    def energy(self, x):
        return self.head(mx.tanh(self.l2(mx.tanh(self.l1(x))))).squeeze(-1)

    def vector_field(self, x):
        dH = mx.grad(lambda z: self.energy(z).sum())(x)
        return mx.concatenate([dH[:, 1:2], -dH[:, 0:1]], axis=1)


def loss_fn(model, x, dx):
    return mx.mean((model.vector_field(x) - dx) ** 2)


model = HNN()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, loss_fn)


def rollout_energy_drift(model, q0=1.5, p0=0.0, dt=0.05, n=400):
    """Integrate the learned field with midpoint RK2, report the true-energy drift."""
    x = mx.array([[q0, p0]])
    e0 = 0.5 * p0 ** 2 + (1 - math.cos(q0))
    for _ in range(n):
        k1 = model.vector_field(x)
        k2 = model.vector_field(x + 0.5 * dt * k1)
        x = x + dt * k2
    mx.eval(x)
    q, p = x[0, 0].item(), x[0, 1].item()
    return abs(0.5 * p * p + (1 - math.cos(q)) - e0) / e0


t0 = time.time()
bs = 100
ntr = X_tr.shape[0]
for epoch in range(1, 81):
    perm = mx.random.permutation(ntr)
    tot = 0.0
    for i in range(0, ntr, bs):
        idx = perm[i:i + bs]
        loss, grads = step(model, X_tr[idx], DX_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.size
    if epoch % 5 == 0 or epoch == 1:
        val = loss_fn(model, X_val, DX_val).item()
        print(f"ts={time.time()-t0:.1f}s level=info epoch={epoch} train_mse={tot/ntr:.5f} "
              f"val_mse_clean={val:.5f} noise_floor={0.05**2:.5f}", flush=True)

drift = rollout_energy_drift(model)
print(f"ts={time.time()-t0:.1f}s level=info msg=\"rollout check\" rel_energy_drift={drift:.4f}")
