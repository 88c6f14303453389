"""Tea-leaf grade classifier (4 grades from 10 sensor readings).

Weight-normalised MLP (w = g * v / ||v||, Salimans & Kingma 2016) with their
data-dependent initialisation: g and b of every layer are set from one batch so
that pre-activations start with zero mean / unit variance. The output layer's
scale g is frozen after that init on purpose (fixed logit temperature).
Loss: cross-entropy with label smoothing 0.1, so its floor is well above 0.
Output: a tab-separated table, one row per epoch.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["dust", "fannings", "broken", "whole-leaf"]
SMOOTH = 0.1


def make_tea(n, rng):
    # latent leaf quality + moisture + oxidation drive 10 noisy sensor channels
    q = rng.normal(size=n)
    moist = rng.normal(size=n)
    oxid = rng.normal(size=n)
    mix = rng.normal(size=(3, 10)) * 0.8
    x = np.stack([q, moist, oxid], 1) @ mix
    x += 0.25 * np.sin(3.0 * x[:, ::-1]) + rng.normal(scale=0.35, size=x.shape)
    score = 1.3 * q - 0.6 * moist * oxid + 0.4 * np.tanh(2 * oxid)
    cuts = np.quantile(score, [0.25, 0.5, 0.75])
    y = np.digitize(score, cuts)
    return x.astype(np.float32), y.astype(np.int32)


class WNLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.v = mx.random.normal((dout, din)) * 0.05
        self.g = mx.ones((dout,))
        self.b = mx.zeros((dout,))

    def direction(self):
        return self.v / mx.sqrt(mx.sum(self.v * self.v, axis=1, keepdims=True))

    def __call__(self, x):
        return (x @ self.direction().T) * self.g + self.b


class TeaNet(nn.Module):
    def __init__(self, din, hidden, ncls):
        super().__init__()
        self.layers = [WNLinear(din, hidden), WNLinear(hidden, hidden), WNLinear(hidden, ncls)]

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = nn.gelu(x)
        return x

    def data_dependent_init(self, xb):
        """Set g, b so each layer's pre-activation is ~N(0,1) on this batch."""
        h = xb
        for i, layer in enumerate(self.layers):
            t = h @ layer.direction().T
            mu = mx.mean(t, axis=0)
            sd = mx.sqrt(mx.var(t, axis=0) + 1e-6)
            layer.update({"g": 1.0 / sd, "b": -mu / sd})
            h = layer(h)
            if i < len(self.layers) - 1:
                h = nn.gelu(h)
        mx.eval(self.parameters())


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, label_smoothing=SMOOTH, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, label_smoothing=SMOOTH, reduction="mean")
    probs = mx.softmax(logits, axis=-1)
    onehot = mx.eye(len(GRADES))[y]
    brier = mx.mean(mx.sum((probs - onehot) ** 2, axis=-1))
    acc = mx.mean(mx.argmax(logits, axis=-1) == y)
    return loss.item(), acc.item(), brier.item()


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    x_all, y_all = make_tea(11000, rng)
    xtr, ytr = x_all[:9000], y_all[:9000]
    xte, yte = x_all[9000:], y_all[9000:]
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr = (xtr - mu) / sd
    xte = (xte - mu) / sd
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xte, Yte = mx.array(xte), mx.array(yte)

    model = TeaNet(10, 64, len(GRADES))
    model.data_dependent_init(Xtr[:512])
    model.layers[-1].freeze(keys=["g"])  # fixed output temperature after init
    g_out_init = np.array(model.layers[-1].g)

    n_train = len(tree_flatten(model.trainable_parameters()))
    n_all = len(tree_flatten(model.parameters()))
    floor = -(1 - SMOOTH + SMOOTH / 4) * math.log(1 - SMOOTH + SMOOTH / 4) - 3 * (SMOOTH / 4) * math.log(SMOOTH / 4)

    opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
    lg = nn.value_and_grad(model, loss_fn)

    # gradient sanity check on the first batch (no update)
    _, g0 = lg(model, Xtr[:128], Ytr[:128])
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if mx.max(mx.abs(g)).item() == 0.0]
    print(f"# leaves trainable={n_train} total={n_all}  frozen=layers.2.g  zero-grad leaves={zero or 'none'}")
    print(f"# label-smoothing floor of the loss = {floor:.4f} nats (a perfect classifier cannot go lower)")

    l0, a0, b0 = evaluate(model, Xte, Yte)
    print("epoch\ttrain_loss\ttest_loss\ttest_acc\tbrier\tsecs")
    print(f"0\t-\t{l0:.4f}\t{a0:.4f}\t{b0:.4f}\t0.0")

    bs = 100
    nb = len(ytr) // bs
    t0 = time.perf_counter()
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        for i in range(nb):
            idx = perm[i * bs:(i + 1) * bs]
            loss, grads = lg(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
        tl, ta, tb = evaluate(model, Xte, Yte)
        print(f"{epoch}\t{tot / nb:.4f}\t{tl:.4f}\t{ta:.4f}\t{tb:.4f}\t{time.perf_counter() - t0:.1f}")

    g_out = np.array(model.layers[-1].g)
    print(f"# output-layer g unchanged since init: {bool(np.array_equal(g_out, g_out_init))} ; "
          f"hidden g range [{mx.min(model.layers[0].g).item():.3f}, {mx.max(model.layers[0].g).item():.3f}]")


if __name__ == "__main__":
    main()
