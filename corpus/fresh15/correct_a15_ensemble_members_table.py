# Deep ensemble: 4 independently seeded members trained side by side on
# bootstrap resamples, each with its own optimizer; progress printed as a table.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N = 600
X = mx.random.uniform(-3, 3, (N, 1))
Y = mx.sin(X) + 0.3 * X + 0.1 * mx.random.normal((N, 1))
Xv = mx.linspace(-3, 3, 200).reshape(-1, 1)
Yv = mx.sin(Xv) + 0.3 * Xv


def make_member(seed):
    mx.random.seed(seed)
    return nn.Sequential(nn.Linear(1, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1))


K = 4
members = [make_member(100 + k) for k in range(K)]
opts = [optim.Adam(learning_rate=lr) for lr in (1e-2, 5e-3, 1e-2, 2e-3)]
boot = [mx.random.randint(0, N, (N,)) for _ in range(K)]


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vgs = [nn.value_and_grad(m, loss_fn) for m in members]
for m in members:
    mx.eval(m.parameters())

print("epoch | " + " | ".join(f"m{k} mse " for k in range(K)) + " | ens val")
for epoch in range(1, 41):
    losses = []
    for k in range(K):
        perm = boot[k][mx.random.permutation(N)]
        tot = 0.0
        for i in range(0, N, 100):
            idx = perm[i:i + 100]
            l, g = vgs[k](members[k], X[idx], Y[idx])
            opts[k].update(members[k], g)
            mx.eval(members[k].parameters(), opts[k].state, l)
            tot += l.item()
        losses.append(tot / 6)
    if epoch % 5 == 0 or epoch == 1:
        ens = mx.mean(mx.stack([m(Xv) for m in members]), axis=0)
        val = nn.losses.mse_loss(ens, Yv).item()
        print(f"{epoch:5d} | " + " | ".join(f"{l:7.4f}" for l in losses) + f" | {val:.4f}")
