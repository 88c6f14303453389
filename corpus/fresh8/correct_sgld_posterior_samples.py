"""Bayesian linear-logistic model sampled with SGLD (stochastic gradient
Langevin dynamics).  After burn-in the chain is supposed to wander around the
posterior, so the minibatch NLL stops decreasing and just fluctuates: that is
the sampler working, not a stall.  We keep every 20th sample and report the
posterior-predictive accuracy of the averaged samples."""
import math

import mlx.core as mx
import mlx.nn as nn
import numpy as np

rng = np.random.default_rng(3)
N, D = 1200, 8
w_true = rng.normal(size=D)
X = rng.normal(size=(N, D)).astype(np.float32)
p = 1 / (1 + np.exp(-(X @ w_true)))
y = (rng.random(N) < p).astype(np.float32)
Xtr, ytr, Xte, yte = map(mx.array, (X[:1000], y[:1000], X[1000:], y[1000:]))
n_train = 1000


class Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(D, 1)

    def __call__(self, x):
        return self.lin(x).squeeze(-1)


def neg_log_post(model, xb, yb):
    # minibatch estimate of -log p(w | data) up to a constant
    nll = nn.losses.binary_cross_entropy(model(xb), yb, reduction="sum") * (n_train / xb.shape[0])
    prior = 0.5 * sum(mx.sum(p * p) for p in (model.lin.weight, model.lin.bias))
    return nll + prior


mx.random.seed(3)
model = Logistic()
grad_fn = nn.value_and_grad(model, neg_log_post)
eps = 2e-4  # step size
B = 50
burn_in, thin, total = 600, 20, 2400
samples = []

for t in range(1, total + 1):
    idx = mx.array(rng.integers(0, n_train, size=B))
    u, g = grad_fn(model, Xtr[idx], ytr[idx])
    # Langevin step: half-step along the gradient plus N(0, eps) noise
    new = {}
    for name in ("weight", "bias"):
        p_ = model.lin[name]
        noise = mx.random.normal(p_.shape) * math.sqrt(eps)
        new[name] = p_ - 0.5 * eps * g["lin"][name] + noise
    model.lin.update(new)
    mx.eval(model.parameters(), u)
    if t > burn_in and t % thin == 0:
        samples.append((mx.array(model.lin.weight), mx.array(model.lin.bias)))
    if t in (1, 50) or t % 200 == 0:
        phase = "burn-in" if t <= burn_in else "sampling"
        print(f"[{phase:8s}] t={t:5d}  U(w)={u.item():9.2f}  kept={len(samples)}")

probs = mx.mean(
    mx.stack([mx.sigmoid(Xte @ w.T + b).squeeze(-1) for w, b in samples]), axis=0
)
acc = mx.mean((probs > 0.5) == (yte > 0.5)).item()
w_mean = mx.mean(mx.stack([w for w, _ in samples]), axis=0)
print(f"posterior samples: {len(samples)}  predictive acc: {acc:.3f}")
print(f"corr(posterior mean, w_true): {np.corrcoef(np.array(w_mean).ravel(), w_true)[0, 1]:.3f}")
