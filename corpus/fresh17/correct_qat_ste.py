"""Quantization-aware training of a small regressor with 3-bit weights.

Forward passes use fake-quantized weights (per-tensor symmetric, 3 bits),
backward uses the straight-through estimator w + stop_gradient(q(w) - w), so
the float "shadow" weights keep receiving gradients.  Because of the coarse
grid, most quantized weights stay on the same level from one step to the next
even though the shadow weights move every step.
"""
import math
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(5)
BITS = 3
LEVELS = 2 ** (BITS - 1) - 1  # symmetric: -3..3


def fake_quant(w):
    scale = mx.max(mx.abs(w)) / LEVELS + 1e-8
    q = mx.clip(mx.round(w / scale), -LEVELS, LEVELS) * scale
    return w + mx.stop_gradient(q - w)  # straight-through estimator


class QLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        bound = 1 / math.sqrt(din)
        self.weight = mx.random.uniform(-bound, bound, (dout, din))
        self.bias = mx.zeros((dout,))

    def __call__(self, x):
        return x @ fake_quant(self.weight).T + self.bias


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = QLinear(6, 48)
        self.l2 = QLinear(48, 48)
        self.l3 = QLinear(48, 1)

    def __call__(self, x):
        return self.l3(nn.silu(self.l2(nn.silu(self.l1(x)))))


def target(x):
    return mx.sin(x[:, :1] * 2.0) + 0.5 * x[:, 1:2] * x[:, 2:3] - 0.3 * x[:, 3:4]


X = mx.random.uniform(-1.5, 1.5, (2048, 6))
Y = target(X)
Xv = mx.random.uniform(-1.5, 1.5, (512, 6))
Yv = target(Xv)

model = QNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step = nn.value_and_grad(model, loss_fn)


def quant_codes(m):
    out = []
    for layer in (m.l1, m.l2, m.l3):
        w = layer.weight
        scale = mx.max(mx.abs(w)) / LEVELS + 1e-8
        out.append(mx.clip(mx.round(w / scale), -LEVELS, LEVELS))
    return out


ITERS, BS = 1500, 64
prev_codes = quant_codes(model)
changed_frac = 0.0
for it in range(1, ITERS + 1):
    idx = mx.random.randint(0, X.shape[0], (BS,))
    loss, grads = step(model, X[idx], Y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 100 == 0:
        codes = quant_codes(model)
        diff = sum((c != p).sum().item() for c, p in zip(codes, prev_codes))
        total = sum(c.size for c in codes)
        changed_frac = diff / total
        prev_codes = codes
        val = loss_fn(model, Xv, Yv).item()
        bar = "#" * (it * 30 // ITERS)
        sys.stdout.write(f"\r[{bar:<30}] it {it:04d}/{ITERS} mse={loss.item():.4f} "
                         f"val_mse={val:.4f} codes_changed={changed_frac:.3%}\n")
        sys.stdout.flush()
print(f"final val_mse={loss_fn(model, Xv, Yv).item():.4f}")
