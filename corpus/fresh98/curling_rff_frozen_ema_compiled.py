"""Curling delivery outcome: where does the stone come to rest?

Classes: 0 = short (hogged / guard zone), 1 = in the house, 2 = through the back.
A fixed random-Fourier-feature encoder (frozen on purpose, it is the "shared
sensor embedding" our other ice-analysis scripts use) feeds a small trainable
classifier.  The reported loss is an exponential moving average of the batch
loss with bias correction; the headline metric is the MISS rate (lower is better).
"""
from functools import partial
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["short", "house", "through"]


def simulate_deliveries(n, rng):
    speed = rng.normal(2.25, 0.18, n)           # m/s at the hog line
    rotation = rng.uniform(1.5, 4.0, n)         # turns over the whole travel
    sweep = rng.uniform(0.0, 1.0, n)            # share of travel swept
    ice_temp = rng.normal(-5.0, 1.0, n)         # deg C
    pebble_age = rng.uniform(0.0, 3.0, n)       # hours since pebbling
    stone_mass = rng.normal(18.5, 0.4, n)       # kg
    mu = 0.0085 * (1 + 0.05 * (ice_temp + 5)) * (1 + 0.12 * pebble_age) * (1 - 0.18 * sweep)
    mu = mu * (1 + 0.02 * np.sin(2 * rotation))
    travel = speed ** 2 / (2 * 9.81 * mu) * (1 + 0.01 * (stone_mass - 18.5))
    travel = travel + rng.normal(0, 0.9, n)     # measurement + ice noise
    rest = travel - 27.0                        # metres past the far hog line
    label = np.where(rest < 4.8, 0, np.where(rest < 8.5, 1, 2))
    X = np.stack([speed, rotation, sweep, ice_temp, pebble_age, stone_mass], 1)
    return X.astype(np.float32), label.astype(np.int32)


class FourierEncoder(nn.Module):
    def __init__(self, d_in, n_feat, bandwidth):
        super().__init__()
        self.proj = mx.random.normal((d_in, n_feat)) / bandwidth
        self.phase = mx.random.uniform(0, 2 * math.pi, (n_feat,))
        self.n_feat = n_feat

    def __call__(self, x):
        return math.sqrt(2.0 / self.n_feat) * mx.cos(x @ self.proj + self.phase) * 4.0


class CurlingNet(nn.Module):
    def __init__(self, d_in, n_feat=256, hidden=64):
        super().__init__()
        self.encoder = FourierEncoder(d_in, n_feat, bandwidth=1.5)
        self.hidden = nn.Linear(n_feat + d_in, hidden)
        self.cls = nn.Linear(hidden, len(CLASSES))

    def __call__(self, x):
        z = mx.concatenate([self.encoder(x), x], axis=-1)
        return self.cls(nn.relu(self.hidden(z)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(2024)
    X, y = simulate_deliveries(16000, rng)
    mu, sd = X[:13000].mean(0), X[:13000].std(0)
    X = (X - mu) / sd
    Xtr, ytr = mx.array(X[:13000]), mx.array(y[:13000])
    Xte, yte = mx.array(X[13000:]), mx.array(y[13000:])
    prior = np.bincount(y[:13000], minlength=3) / 13000
    print("deliveries:", Xtr.shape[0], "train /", Xte.shape[0], "test;",
          "class shares", " ".join(f"{c}={p:.1%}" for c, p in zip(CLASSES, prior)),
          f"; majority-guess miss rate {1 - prior.max():.1%}")

    model = CurlingNet(X.shape[1])
    model.encoder.freeze()
    enc_before = {k: np.array(v) for k, v in tree_flatten(model.encoder.parameters())}
    mx.eval(model.parameters())

    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    _, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:128], ytr[:128])
    g0 = tree_flatten(g0)
    live = [k for k, g in g0 if mx.abs(g).max().item() > 0]
    print(f"trainable {n_train} of {n_all} params (encoder frozen); "
          f"step-1 gradient non-zero on {len(live)}/{len(g0)} trainable leaves: {', '.join(live)}")

    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, t):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, t)
        opt.update(model, grads)
        return loss

    def miss_rate(Xe, ye):
        pred = mx.argmax(model(Xe), axis=-1)
        return (pred != ye).astype(mx.float32).mean().item()

    print(f"untrained: test miss rate {miss_rate(Xte, yte):.1%}")
    beta, ema, seen = 0.98, 0.0, 0
    bs, n = 100, Xtr.shape[0]
    t0 = time.time()
    print(f"{'epoch':>5} {'ema loss':>9} {'test ce':>8} {'miss %':>7} {'secs':>6}")
    for epoch in range(1, 21):
        perm = mx.array(rng.permutation(n))
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss = train_step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            seen += 1
            ema = beta * ema + (1 - beta) * loss.item()
        if epoch in (1, 2, 3, 5, 8, 12, 16, 20):
            test_ce = loss_fn(model, Xte, yte).item()
            print(f"{epoch:>5} {ema / (1 - beta ** seen):>9.4f} {test_ce:>8.4f} "
                  f"{100 * miss_rate(Xte, yte):>6.2f}% {time.time() - t0:>6.1f}")

    drift = max(float(np.abs(np.array(v) - enc_before[k]).max())
                for k, v in tree_flatten(model.encoder.parameters()))
    pred = np.array(mx.argmax(model(Xte), axis=-1))
    yt = np.array(yte)
    recall = " ".join(f"{c}={np.mean(pred[yt == j] == j):.1%}" for j, c in enumerate(CLASSES))
    print(f"per-class recall: {recall}")
    print(f"frozen encoder max change: {drift:.1e}")


if __name__ == "__main__":
    main()
