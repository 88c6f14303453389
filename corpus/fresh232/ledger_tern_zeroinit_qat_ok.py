"""Tern colony nest ledger: predict nest outcome from 32 nest-camera readings.

4-bit weight QAT (group-wise affine, 32 weights per group) with a
straight-through estimator, so the trained net can be shipped as 4-bit codes
to the field logger.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

GROUP = 32
BITS = 4
OUTCOMES = ["fledged", "predated", "flooded", "abandoned"]


def quantize(w, group_size=GROUP, bits=BITS):
    n_bins = (1 << bits) - 1
    packed_w = w.reshape(w.shape[0], w.shape[1] // group_size, group_size)
    w_max = mx.max(packed_w, axis=-1, keepdims=True)
    w_min = mx.min(packed_w, axis=-1, keepdims=True)
    delta = mx.maximum((w_max - w_min) / n_bins, mx.array(1e-7, dtype=w.dtype))
    scales = mx.squeeze(delta, -1)
    biases = mx.squeeze(w_min, -1)
    # keep 0 exactly representable
    biases = mx.round(biases / scales) * scales
    codes = mx.round((packed_w - w_min) / delta)
    return codes, scales, biases


def dequantize(codes, scales, biases, shape):
    w = codes * scales[..., None] + biases[..., None]
    return w.reshape(shape)


def fake_quant(w):
    w_hat = dequantize(*quantize(w), w.shape)
    return w + mx.stop_gradient(w_hat - w)


class QATLinear(nn.Module):
    def __init__(self, d_in, d_out, zero=False):
        super().__init__()
        scale = math.sqrt(1.0 / d_in)
        if zero:
            self.weight = mx.zeros((d_out, d_in))
        else:
            self.weight = mx.random.uniform(-scale, scale, (d_out, d_in))
        self.bias = mx.zeros((d_out,))

    def __call__(self, x):
        return x @ fake_quant(self.weight).T + self.bias


class NestNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = QATLinear(32, 64)
        self.l2 = QATLinear(64, 64)
        self.head = QATLinear(64, 4, zero=True)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def make_ledger(n, rng, mix):
    # 32 readings: 8 days x (tide height, gull visits, adult presence, wind)
    z = rng.normal(size=(n, 6)).astype(np.float32)
    x = z @ mix + 0.3 * rng.normal(size=(n, 32)).astype(np.float32)
    score = np.stack([
        1.2 * z[:, 0] - 0.6 * z[:, 1],
        1.4 * z[:, 1] + 0.5 * z[:, 2] * z[:, 3],
        1.6 * z[:, 2] - 0.4 * z[:, 0],
        1.1 * z[:, 4] + 0.7 * np.abs(z[:, 5]) - 0.5,
    ], axis=1)
    y = np.argmax(score + 0.35 * rng.gumbel(size=score.shape), axis=1)
    return x, y.astype(np.int32)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    mix = rng.normal(size=(6, 32)).astype(np.float32) / math.sqrt(6)
    xtr, ytr = make_ledger(6000, rng, mix)
    xva, yva = make_ledger(1500, rng, mix)
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    counts = np.bincount(np.array(ytr), minlength=4) / ytr.shape[0]
    print("class shares:", {k: round(float(c), 3) for k, c in zip(OUTCOMES, counts)})

    model = NestNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=2e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    batch = 128
    steps = 600
    t0 = time.time()
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xtr.shape[0], size=batch))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0 or step == 1:
            logits = model(xva)
            vloss = nn.losses.cross_entropy(logits, yva, reduction="mean")
            acc = mx.mean(mx.argmax(logits, axis=1) == yva)
            print(f"step {step:4d}  train_loss {loss.item():.4f}  "
                  f"val_loss {vloss.item():.4f}  val_acc {acc.item():.3f}")
    print(f"trained {steps} steps in {time.time() - t0:.1f}s")

    codes, scales, biases = quantize(model.head.weight)
    print(f"head top code {mx.max(codes).item():.0f} of {(1 << BITS) - 1}"
          f"  mean scale {mx.mean(scales).item():.4f}")
    acc = mx.mean(mx.argmax(model(xva), axis=1) == yva).item()
    print(f"final 4-bit val_acc {acc:.3f}  (majority baseline {counts.max():.3f})")


if __name__ == "__main__":
    main()
