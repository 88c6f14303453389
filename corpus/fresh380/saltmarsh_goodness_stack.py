"""Saltmarsh bird-call classifier trained with Hinton's Forward-Forward rule.

Each of the three hidden layers is trained on its own, greedily: layer 1 first,
then layer 2 on top of the frozen layer 1, then layer 3.  No gradient ever
crosses a layer boundary.  A layer's "goodness" is the mean squared activation;
it should be high for (call, true species) pairs and low for (call, another
species) pairs.  Prediction tries every label and picks the one with the
largest summed goodness.

Data: 10 synthetic species, each a mixture of 3 spectral templates in 40
frequency bins plus noise.  The label is written into the first 10 inputs.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_CLASSES = 10
N_BINS = 40
IN_DIM = N_CLASSES + N_BINS
HIDDEN = 96
THETA = 2.0
STEPS_PER_LAYER = 700
BATCH = 96

rng = np.random.default_rng(7)
mx.random.seed(7)
templates = rng.normal(0, 1, size=(N_CLASSES, 3, N_BINS)).astype(np.float32)


def make_calls(n):
    y = rng.integers(0, N_CLASSES, size=n)
    mix = rng.dirichlet(np.ones(3), size=n).astype(np.float32)
    spec = np.einsum("nk,nkb->nb", mix, templates[y])
    spec += rng.normal(0, 1.1, size=spec.shape).astype(np.float32)
    return spec.astype(np.float32), y


x_train, y_train = make_calls(8000)
x_test, y_test = make_calls(1500)
mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
x_train = (x_train - mu) / sd
x_test = (x_test - mu) / sd


def overlay(spec, labels):
    onehot = np.zeros((spec.shape[0], N_CLASSES), dtype=np.float32)
    onehot[np.arange(spec.shape[0]), labels] = 3.0
    return np.concatenate([onehot, spec], axis=1)


def unit_rows(h):
    return h / (mx.sqrt(mx.sum(h * h, axis=1, keepdims=True)) + 1e-6)


class FFLayer(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.lin = nn.Linear(d_in, d_out)

    def __call__(self, x):
        return nn.relu(self.lin(unit_rows(x)))


def goodness(h):
    return mx.mean(h * h, axis=1)


layers = [FFLayer(IN_DIM, HIDDEN), FFLayer(HIDDEN, HIDDEN), FFLayer(HIDDEN, HIDDEN)]
for layer in layers:
    mx.eval(layer.parameters())


def below(k, x):
    """Activations fed to layer k (computed with the earlier, frozen layers)."""
    h = x
    for layer in layers[:k]:
        h = layer(h)
    return mx.stop_gradient(h)


def ff_loss(layer, h_pos, h_neg):
    g_pos = goodness(layer(h_pos))
    g_neg = goodness(layer(h_neg))
    loss = mx.mean(nn.softplus(-(g_pos - THETA)) + nn.softplus(g_neg - THETA))
    return loss, (mx.mean(g_pos), mx.mean(g_neg))


def predict(x_spec):
    n = x_spec.shape[0]
    scores = np.zeros((n, N_CLASSES), dtype=np.float32)
    for c in range(N_CLASSES):
        h = mx.array(overlay(x_spec, np.full(n, c)))
        total = mx.zeros((n,))
        for layer in layers:
            h = layer(h)
            total = total + goodness(h)
        scores[:, c] = np.array(total)
    return scores.argmax(1)


def centroid_baseline():
    cents = np.stack([x_train[y_train == c].mean(0) for c in range(N_CLASSES)])
    d = ((x_test[:, None, :] - cents[None]) ** 2).sum(-1)
    return float((d.argmin(1) == y_test).mean())


def snapshot():
    return [
        {k: np.array(v) for k, v in tree_flatten(layer.parameters())}
        for layer in layers
    ]


def moved(before, after):
    out = []
    for b, a in zip(before, after):
        out.append(max(float(np.abs(a[k] - b[k]).max()) for k in b))
    return out


print(f"species={N_CLASSES} bins={N_BINS} train={len(y_train)} test={len(y_test)}")
print(f"chance accuracy            {1.0 / N_CLASSES:.3f}")
print(f"nearest-centroid baseline  {centroid_baseline():.3f}")
print(f"untrained FF accuracy      {(predict(x_test) == y_test).mean():.3f}")

t0 = time.time()
for k, layer in enumerate(layers):
    opt = optim.Adam(learning_rate=3e-3 if k == 0 else 1e-2)
    step_fn = nn.value_and_grad(layer, ff_loss)
    before = snapshot()
    print(f"--- stage {k + 1}: training layer {k + 1} only ---")
    for step in range(1, STEPS_PER_LAYER + 1):
        idx = rng.integers(0, len(y_train), size=BATCH)
        xs, ys = x_train[idx], y_train[idx]
        decoy = (ys + rng.integers(1, N_CLASSES, size=BATCH)) % N_CLASSES
        h_pos = below(k, mx.array(overlay(xs, ys)))
        h_neg = below(k, mx.array(overlay(xs, decoy)))
        (loss, (gp, gn)), grads = step_fn(layer, h_pos, h_neg)
        opt.update(layer, grads)
        mx.eval(layer.parameters(), opt.state, loss, gp, gn)
        if step == 1 or step % 140 == 0:
            print(
                f"layer {k + 1} step {step:4d}  ff_loss {loss.item():.4f}  "
                f"g_pos {gp.item():7.3f}  g_neg {gn.item():7.3f}"
            )
    after = snapshot()
    acc = float((predict(x_test) == y_test).mean())
    shift = "  ".join(f"L{i + 1}={m:.4f}" for i, m in enumerate(moved(before, after)))
    print(f"stage {k + 1} done  test_acc {acc:.3f}  max|dW| {shift}  ({time.time() - t0:.1f}s)")

final = float((predict(x_test) == y_test).mean())
print(f"final test accuracy {final:.3f} (chance 0.100)")
