"""BinaryConnect-style MLP: the forward pass uses sign(W) in {-1, +1}.

The real-valued "latent" weights are what the optimizer updates; the sign
is taken in a custom function whose VJP is the straight-through estimator
(gradient passed where |w| <= 1, blocked outside).  After every update the
latent weights are clipped back to [-1, 1], as in the BinaryConnect paper.
BatchNorm after each binary layer rescales the +-1 dot products.

Data: 10 random 8x8 binary "glyph" prototypes; each sample is a prototype
with 30% of its pixels flipped plus Gaussian sensor noise.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("bnn")


@mx.custom_function
def binarize(w):
    return mx.where(w >= 0, 1.0, -1.0).astype(w.dtype)


@binarize.vjp
def binarize_vjp(primals, cotangent, output):
    w = primals  # single input: MLX passes the array itself, not a tuple
    return cotangent * (mx.abs(w) <= 1.0).astype(cotangent.dtype)


class BinaryLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.weight = mx.random.uniform(-1.0, 1.0, (d_out, d_in))

    def __call__(self, x):
        return x @ binarize(self.weight).T


class BinaryMLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = [BinaryLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        self.norms = [nn.BatchNorm(b) for b in sizes[1:]]

    def __call__(self, x):
        n = len(self.layers)
        for i, (lin, bn) in enumerate(zip(self.layers, self.norms)):
            x = bn(lin(x))
            if i < n - 1:
                x = mx.clip(x, -1.0, 1.0)  # hardtanh
        return x


def make_data(rng, n, protos, flip=0.3, noise=0.7):
    labels = rng.integers(0, len(protos), size=n)
    x = protos[labels].copy()
    mask = rng.random(x.shape) < flip
    x[mask] *= -1
    x += noise * rng.standard_normal(x.shape)
    return x.astype(np.float32), labels.astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def error_pct(model, x, y):
    model.eval()
    pred = mx.argmax(model(mx.array(x)), axis=1)
    err = 100.0 * (1.0 - mx.mean(pred == mx.array(y)).item())
    model.train()
    return err


def clip_latent(model):
    # only the binary layers' latent weights are clipped; BN affine params are free
    clipped = tree_map_with_path(
        lambda path, v: mx.clip(v, -1.0, 1.0) if path.startswith("layers") else v,
        model.trainable_parameters(),
    )
    model.update(clipped)


def signs(model):
    return np.concatenate([np.array(l.weight).ravel() >= 0 for l in model.layers])


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    protos = rng.choice([-1.0, 1.0], size=(10, 64))
    xtr, ytr = make_data(rng, 8000, protos)
    xte, yte = make_data(rng, 1500, protos)

    model = BinaryMLP([64, 192, 192, 10])
    mx.eval(model.parameters())
    n_latent = sum(l.weight.size for l in model.layers)
    n_all = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("latent binary weights: %d of %d trainable values", n_latent, n_all)

    batch = 128
    epochs = 12
    steps_per_epoch = -(-len(xtr) // batch)
    # exponential_decay counts optimizer steps: x0.85 per epoch
    opt = optim.Adam(learning_rate=optim.exponential_decay(3e-3, 0.85 ** (1.0 / steps_per_epoch)))
    grad_fn = nn.value_and_grad(model, loss_fn)
    log.info("epoch 0  test_err=%.2f%%", error_pct(model, xte, yte))
    prev = signs(model)
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(xtr))
        losses = []
        for s in range(0, len(order), batch):
            idx = order[s:s + batch]
            loss, grads = grad_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            clip_latent(model)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        cur = signs(model)
        flipped = 100.0 * np.mean(cur != prev)
        prev = cur
        log.info("epoch %2d  loss=%.4f  train_err=%.2f%%  test_err=%.2f%%  sign_flips=%.2f%%  lr=%.2e",
                 epoch, float(np.mean(losses)), error_pct(model, xtr, ytr),
                 error_pct(model, xte, yte), flipped, opt.learning_rate.item())
    log.info("done in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
