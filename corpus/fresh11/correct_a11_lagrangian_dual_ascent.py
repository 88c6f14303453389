"""Constrained regression by gradient descent-ascent on a Lagrangian.
Minimise mse subject to a budget: the mean prediction on group B must stay
<= 0.5 (the unconstrained fit puts it near 1.5). Phase 1 (300 iterations) fits
without the constraint; from then on the multiplier lam is raised slowly by
dual ascent while the constraint is violated, so the printed mse and Lagrangian
RISE for several hundred iterations before settling at the constrained optimum;
that is the intended behaviour of the method."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(4)
N = 2000
group = (mx.random.uniform(shape=(N,)) < 0.4)
x = mx.random.normal((N, 6))
w = mx.array([0.8, -0.5, 0.3, 0.0, 0.2, 0.1])
y = x @ w + mx.where(group, 1.5, 0.0) + 0.1 * mx.random.normal((N,))
feats = mx.concatenate([x, group[:, None].astype(mx.float32)], axis=1)
mx.eval(feats, y, group)
gmask = group.astype(mx.float32)
BUDGET = 0.5

model = nn.Sequential(nn.Linear(7, 32), nn.ReLU(), nn.Linear(32, 1))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=5e-3)
lam = 0.0
DUAL_LR = 0.01
WARM = 300


def lagrangian(m, lam):
    pred = m(feats)[:, 0]
    mse = mx.mean((pred - y) ** 2)
    g_mean = mx.sum(pred * gmask) / mx.sum(gmask)
    viol = g_mean - BUDGET
    return mse + lam * viol, (mse, viol)


vg = nn.value_and_grad(model, lagrangian)
for it in range(1, 1501):
    (L, (mse, viol)), grads = vg(model, lam)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, L, mse, viol)
    if it > WARM:
        lam = max(0.0, lam + DUAL_LR * viol.item())  # dual ascent, projected to lam >= 0
    if it % 100 == 0 or it == 1:
        print(f"[{'fit' if it <= WARM else 'dual'}] it={it:4d} lagrangian={L.item():+.4f} mse={mse.item():.4f} "
              f"violation={viol.item():+.4f} lambda={lam:.3f}")
