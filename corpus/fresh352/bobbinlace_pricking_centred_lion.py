"""Bobbin-lace workshop: which of 4 finishing faults a pricking will show
(none / loose pins / twisted pairs / snapped thread), from 10 synthetic
pattern and thread readings.

Two arms are trained from the SAME initial weights and the same batches:
  A: optim.Lion on the raw gradients
  B: the same Lion wrapped in a small gradient-centralisation wrapper
     (every >=2-D gradient has its per-output-row mean removed first).
Nothing is printed while an epoch runs; after each epoch one row compares the
two arms next to a majority-class baseline. The score column is the mean
log-likelihood per pricking in nats: it is NEGATIVE and should RISE toward 0.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 3521
rng = np.random.default_rng(SEED)

N_TR, N_TE, D, C = 8000, 2000, 10, 4


def make(n):
    x = rng.normal(0, 1, (n, D)).astype(np.float32)
    z = np.stack([
        0.2 + 0.0 * x[:, 0],
        1.3 * x[:, 0] - 0.9 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3],
        1.1 * x[:, 4] + 0.8 * np.tanh(2 * x[:, 5]) - 0.5 * x[:, 1],
        0.9 * x[:, 6] ** 2 - 0.7 + 0.7 * x[:, 7] - 0.4 * x[:, 0],
    ], 1)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(C, p=pi) for pi in p])
    return x, y.astype(np.int32)


xtr, ytr = make(N_TR)
xte, yte = make(N_TE)
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr, xte, yte))
counts = np.bincount(ytr, minlength=C)
major = int(counts.argmax())
prior = counts / counts.sum()
base_acc = float((yte == major).mean()) * 100
base_ll = float(np.mean(np.log(prior[yte])))


class Pricking(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, C)

    def __call__(self, x):
        return self.head(self.body(x))


class Centralised:
    """Optimizer wrapper: remove the per-row mean of every >=2-D gradient,
    then hand the result to the wrapped optimizer."""

    def __init__(self, inner):
        self.inner = inner

    @property
    def state(self):
        return self.inner.state

    def update(self, model, grads):
        def gc(g):
            if g.ndim >= 2:
                return g - mx.mean(g, axis=tuple(range(1, g.ndim)), keepdims=True)
            return g

        self.inner.update(model, tree_map(gc, grads))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model):
    logits = model(Xte)
    ll = -nn.losses.cross_entropy(logits, Yte, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, axis=1) == Yte).item() * 100
    return ll, acc


mx.random.seed(SEED)
model_a = Pricking()
mx.eval(model_a.parameters())
model_b = Pricking()
model_b.update(tree_map(lambda a: mx.array(a), model_a.parameters()))
mx.eval(model_b.parameters())

opt_a = optim.Lion(learning_rate=3e-4, weight_decay=1e-2)
opt_b = Centralised(optim.Lion(learning_rate=3e-4, weight_decay=1e-2))
lg_a = nn.value_and_grad(model_a, loss_fn)
lg_b = nn.value_and_grad(model_b, loss_fn)

print(f"prickings: train {N_TR}, test {N_TE}, classes {C}, class shares "
      + " ".join(f"{s:.2f}" for s in prior))
print(f"baseline (always class {major}): test acc {base_acc:.1f}%  log-lik {base_ll:.3f} nats")

# one-off check that the wrapper really centres the rows and leaves 1-D grads alone
_, g0 = lg_b(model_b, Xtr[:256], Ytr[:256])
gw = g0["body"]["layers"][0]["weight"]
gcw = gw - mx.mean(gw, axis=1, keepdims=True)
print(f"wrapper check: |row mean| before {mx.abs(mx.mean(gw, axis=1)).max().item():.2e} "
      f"after {mx.abs(mx.mean(gcw, axis=1)).max().item():.1e}; grad leaves "
      f"{len(tree_flatten(g0))}")

ll_a, acc_a = evaluate(model_a)
ll_b, acc_b = evaluate(model_b)
print(f"{'epoch':>5} | {'A loglik':>9} {'A acc%':>7} | {'B(gc) loglik':>12} {'B acc%':>7} | "
      f"{'base loglik':>11} {'base acc%':>9}")
print(f"{0:>5} | {ll_a:>9.3f} {acc_a:>7.1f} | {ll_b:>12.3f} {acc_b:>7.1f} | "
      f"{base_ll:>11.3f} {base_acc:>9.1f}")

B = 100
for epoch in range(1, 16):
    perm = rng.permutation(N_TR)
    for i in range(0, N_TR, B):
        idx = mx.array(perm[i:i + B])
        xb, yb = Xtr[idx], Ytr[idx]
        la, ga = lg_a(model_a, xb, yb)
        opt_a.update(model_a, ga)
        lb, gb = lg_b(model_b, xb, yb)
        opt_b.update(model_b, gb)
        mx.eval(model_a.parameters(), opt_a.state, model_b.parameters(), opt_b.state, la, lb)
    ll_a, acc_a = evaluate(model_a)
    ll_b, acc_b = evaluate(model_b)
    print(f"{epoch:>5} | {ll_a:>9.3f} {acc_a:>7.1f} | {ll_b:>12.3f} {acc_b:>7.1f} | "
          f"{base_ll:>11.3f} {base_acc:>9.1f}")

print(f"final: A {acc_a:.1f}% / {ll_a:.3f} nats, B(gc) {acc_b:.1f}% / {ll_b:.3f} nats, "
      f"baseline {base_acc:.1f}% / {base_ll:.3f} nats")
