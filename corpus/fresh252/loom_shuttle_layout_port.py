"""Loom shuttle: classify shuttle-flight faults from 2-axis accelerometer traces.

Stage 1 trains a small Conv1d tagger on the mill-A loom and exports it the way
the sister team's toolkit stores weights: conv kernels in (out, in, k) order
inside a plain .npz. Stage 2 builds a fresh model, converts the kernels to the
MLX (out, k, in) order, loads them with strict=True, checks that the converted
model reproduces the stage-1 logits, then freezes the feature extractor and
re-fits only the head on the mill-B loom (different sensor gain and mounting
offset). The stage-2 loss starts higher than where stage 1 ended: that is the
mill change, not a regression.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

L, C, K = 48, 2, 4   # samples per trace, axes, fault classes


def traces(n, seed, gain=1.0, offset=0.0):
    r = np.random.default_rng(seed)
    y = r.integers(0, K, n)
    t = np.linspace(0, 1, L)
    x = np.zeros((n, L, C), np.float32)
    for i in range(n):
        f = 3 + 2 * y[i]
        burst = np.exp(-((t - r.uniform(0.3, 0.7)) ** 2) / 0.01) * (y[i] == 3)
        x[i, :, 0] = np.sin(2 * np.pi * f * t + r.uniform(0, 6.28)) + 2.0 * burst
        x[i, :, 1] = 0.5 * np.cos(2 * np.pi * f * t) * (1 + 0.3 * y[i])
    x = gain * x + offset + r.normal(0, 0.35, x.shape)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class ShuttleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(C, 16, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(16, 16, kernel_size=5, padding=2, stride=2)
        self.head = nn.Linear(16, K)

    def features(self, x):
        h = nn.relu(self.conv1(x))
        h = nn.relu(self.conv2(h))
        return h.mean(axis=1)

    def __call__(self, x):
        return self.head(self.features(x))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def fit(model, opt, data, steps, tag, rng, every=25):
    step_fn = nn.value_and_grad(model, ce)
    xs, ys = data
    run = []
    for s in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xs.shape[0], 48))
        loss, g = step_fn(model, xs[idx], ys[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if s % every == 0:
            print(f"{tag} step {s:3d} lr {opt.learning_rate.item():.4f} ce {np.mean(run[-every:]):.4f}", flush=True)


def acc(model, data):
    return (mx.argmax(model(data[0]), axis=1) == data[1]).mean().item()


def export_foreign(model, path):
    out = {}
    for k, v in tree_flatten(model.parameters()):
        a = np.array(v)
        if k.endswith("weight") and a.ndim == 3:
            a = a.transpose(0, 2, 1)          # (out, k, in) -> (out, in, k)
        out[k] = a
    np.savez(path, **out)


def import_foreign(path):
    weights = []
    with np.load(path) as z:
        for k in z.files:
            a = z[k]
            if k.endswith("weight") and a.ndim == 3:
                a = a.transpose(0, 2, 1)      # (out, in, k) -> (out, k, in)
            weights.append((k, mx.array(a)))
    return weights


def main():
    t0 = time.time()
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    a_train, a_val = traces(2400, 0), traces(600, 1)
    b_train, b_val = traces(600, 2, gain=1.6, offset=0.4), traces(600, 3, gain=1.6, offset=0.4)

    model = ShuttleNet()
    opt = optim.Adam(learning_rate=optim.cosine_decay(4e-3, 300, 4e-4))
    print("stage 1: mill A")
    fit(model, opt, a_train, 300, "[A]", rng)
    print(f"[A] val acc {acc(model, a_val):.3f} | mill-B val acc before re-fit {acc(model, b_val):.3f} | chance {1 / K:.3f}")

    path = os.path.join(tempfile.mkdtemp(), "shuttle_foreign.npz")
    export_foreign(model, path)
    conv_shape = tuple(np.load(path)["conv1.weight"].shape)
    print(f"exported {os.path.getsize(path)} bytes; conv1.weight stored as {conv_shape}")

    mx.random.seed(11)
    port = ShuttleNet()
    port.load_weights(import_foreign(path), strict=True)
    gap = mx.abs(port(a_val[0]) - model(a_val[0])).max().item()
    print(f"stage 2: converted model, max logit gap vs stage 1 = {gap:.2e}")

    port.freeze()
    port.head.unfreeze()
    frozen_before = {k: v for k, v in tree_flatten(port.parameters()) if not k.startswith("head")}
    n_train = sum(v.size for _, v in tree_flatten(port.trainable_parameters()))
    print(f"trainable parameters in stage 2: {n_train} (head only)")
    opt2 = optim.SGD(learning_rate=0.05, momentum=0.9)
    fit(port, opt2, b_train, 150, "[B]", rng)
    drift = max(mx.abs(v - frozen_before[k]).max().item()
                for k, v in tree_flatten(port.parameters()) if k in frozen_before)
    print(f"[B] val acc {acc(port, b_val):.3f} | mill-A val acc after re-fit {acc(port, a_val):.3f} | frozen drift {drift:.1e}")
    os.remove(path)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
