# Gated-MLP classifier on raw (un-normalised) sensor readings.
# The gate uses the SwiGLU variant with a clamp, as in gpt-oss.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

N_FEAT, HIDDEN, N_CLS = 12, 32, 3


def make_data(n):
    # raw readings: some channels are in the hundreds (pressure, rpm, ...)
    scales = mx.array([1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 80.0, 120.0, 200.0, 300.0, 400.0, 600.0])
    z = mx.random.normal((n, N_FEAT))
    x = z * scales
    w = mx.random.normal((N_FEAT, N_CLS), key=mx.random.key(11))
    y = mx.argmax(z @ w, axis=1)
    return x, y


def swiglu(x_linear, x_glu, alpha=1.702, limit=7.0):
    x_glu = mx.clip(x_glu, a_min=None, a_max=limit)
    x_linear = mx.clip(x_linear, a_min=-limit, a_max=limit)
    sig = 1.0 / (1.0 + mx.exp(-alpha * x_glu))
    return x_glu * sig * (x_linear + 1)


class GatedMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.up = nn.Linear(N_FEAT, 2 * HIDDEN)
        self.mid = nn.Linear(HIDDEN, 2 * HIDDEN)
        self.head = nn.Linear(HIDDEN, N_CLS)

    def __call__(self, x):
        h = self.up(x)
        h = swiglu(h[:, :HIDDEN], h[:, HIDDEN:])
        h = self.mid(h)
        h = swiglu(h[:, :HIDDEN], h[:, HIDDEN:])
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


xtr, ytr = make_data(2048)
xva, yva = make_data(512)
model = GatedMLP()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

BS = 64
EPOCHS = 12
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = mx.random.permutation(xtr.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, xtr.shape[0], BS):
        idx = perm[i:i + BS]
        loss, grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    acc = (mx.argmax(model(xva), axis=1) == yva).mean().item()
    print(f"epoch {epoch:2d} | train_nll {tot / nb:.4f} | val_acc {acc:.3f} | {time.time() - t0:.1f}s")
print("done")
