"""Will the frogs sing tonight?

Predict whether a frog chorus is heard at the pond from two field readings
(water temperature and the last 24 h of rain). The inputs go through a FIXED
random-Fourier-feature layer (frozen on purpose - it is a kernel
approximation, not something to learn) and a logistic head is fitted on top.

Two fits of the same head, one after the other, each from the same fresh
initialisation:
  * "sgd"    - plain full-batch gradient descent through mlx.optimizers.SGD
  * "fisher" - hand-written Fisher scoring (natural gradient / IRLS): the head's
               gradient is preconditioned by the Fisher information of the
               Bernoulli likelihood, solved with mx.linalg.solve.

Nothing is printed while fitting; one comparison table is printed at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_FEATURES = 200
LENGTH_SCALE = 0.9
L2 = 1e-3
ITERS = 40
SHOW_AT = (0, 1, 2, 3, 5, 8, 12, 20, 30, 40)


def make_nights(n, rng):
    temp = rng.uniform(4.0, 28.0, n)                   # deg C
    rain = rng.gamma(shape=0.8, scale=6.0, size=n)     # mm in last 24 h
    logit = (3.0 - ((temp - 17.0) / 3.5) ** 2
             - ((np.log1p(rain) - 1.6) / 0.9) ** 2)
    p = 1.0 / (1.0 + np.exp(-logit))
    heard = (rng.uniform(size=n) < p).astype(np.float32)
    return np.stack([temp, np.log1p(rain)], axis=1).astype(np.float32), heard


class RandomFourier(nn.Module):
    def __init__(self, d_in, d_out, length_scale):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.proj.weight = mx.random.normal((d_out, d_in)) / length_scale
        self.proj.bias = mx.random.uniform(0.0, 2 * math.pi, (d_out,))
        self.scale = math.sqrt(2.0 / d_out)

    def __call__(self, x):
        return self.scale * mx.cos(self.proj(x))


class ChorusModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = RandomFourier(2, N_FEATURES, LENGTH_SCALE)
        self.head = nn.Linear(N_FEATURES, 1)
        self.rff.freeze()

    def features(self, x):
        return self.rff(x)

    def __call__(self, x):
        return self.head(self.rff(x)).squeeze(-1)


def objective(model, x, y):
    data = nn.losses.binary_cross_entropy(model(x), y, with_logits=True,
                                          reduction="mean")
    return data + 0.5 * L2 * mx.sum(model.head.weight ** 2)


def evaluate(model, x, y):
    logits = model(x)
    ll = nn.losses.binary_cross_entropy(logits, y, with_logits=True,
                                        reduction="mean")
    acc = mx.mean((logits > 0) == (y > 0.5))
    return ll.item(), 100.0 * acc.item()


def fresh_model():
    mx.random.seed(7)
    m = ChorusModel()
    mx.eval(m.parameters())
    return m


def fisher_step(model, x, grads):
    """Newton / Fisher-scoring step for the logistic head (bias folded in)."""
    phi = model.features(x)
    n = phi.shape[0]
    phi1 = mx.concatenate([phi, mx.ones((n, 1))], axis=1)
    p = mx.sigmoid(model(x))
    w = p * (1 - p)
    fisher = (phi1 * w[:, None]).T @ phi1 / n
    ridge = mx.concatenate([mx.full((N_FEATURES,), L2), mx.array([1e-6])])
    fisher = fisher + mx.diag(ridge)
    g = mx.concatenate([grads["head"]["weight"].reshape(-1),
                        grads["head"]["bias"].reshape(-1)])
    delta = mx.linalg.solve(fisher, g[:, None], stream=mx.cpu).squeeze(-1)
    new_w = model.head.weight - delta[:N_FEATURES].reshape(1, N_FEATURES)
    new_b = model.head.bias - delta[N_FEATURES:]
    model.update(tree_unflatten([("head.weight", new_w), ("head.bias", new_b)]))


def fit(kind, xtr, ytr, xva, yva):
    model = fresh_model()
    frozen_before = np.array(model.rff.proj.weight)
    loss_and_grad = nn.value_and_grad(model, objective)
    opt = optim.SGD(learning_rate=2.0) if kind == "sgd" else None
    hist = {0: (objective(model, xtr, ytr).item(),) + evaluate(model, xva, yva)}
    leaf_check = None
    for it in range(1, ITERS + 1):
        loss, grads = loss_and_grad(model, xtr, ytr)
        if leaf_check is None:
            leaf_check = {k: float(mx.max(mx.abs(v)).item())
                          for k, v in tree_flatten(grads)}
        if kind == "sgd":
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        else:
            fisher_step(model, xtr, grads)
            mx.eval(model.parameters())
        hist[it] = (objective(model, xtr, ytr).item(),) + evaluate(model, xva, yva)
    drift = float(np.max(np.abs(np.array(model.rff.proj.weight) - frozen_before)))
    return hist, leaf_check, drift


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    x_all, y_all = make_nights(4000, rng)
    mu, sd = x_all[:3000].mean(0), x_all[:3000].std(0)
    x_all = (x_all - mu) / sd
    xtr, ytr = mx.array(x_all[:3000]), mx.array(y_all[:3000])
    xva, yva = mx.array(x_all[3000:]), mx.array(y_all[3000:])
    base = float(y_all[:3000].mean())

    results = {}
    for kind in ("sgd", "fisher"):
        results[kind] = fit(kind, xtr, ytr, xva, yva)

    print(f"frog chorus: 3000 train / 1000 val nights, chorus heard on "
          f"{100 * base:.1f}% of training nights")
    prior_ll = -(base * math.log(base) + (1 - base) * math.log(1 - base))
    print(f"constant-rate baseline log-loss: {prior_ll:.4f} nats")
    for kind, (_, leaves, drift) in results.items():
        txt = ", ".join(f"{k} {v:.2e}" for k, v in leaves.items())
        print(f"[{kind}] first-step max|grad|: {txt}; frozen RFF drift {drift:.1e}")
    print()
    print("iter | sgd: objective  val log-loss  val acc | "
          "fisher: objective  val log-loss  val acc")
    for it in SHOW_AT:
        s = results["sgd"][0][it]
        f = results["fisher"][0][it]
        print(f"{it:4d} |      {s[0]:.4f}       {s[1]:.4f}   {s[2]:5.1f}% |"
              f"         {f[0]:.4f}       {f[1]:.4f}   {f[2]:5.1f}%")
    print(f"\ndone in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
