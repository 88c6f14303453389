"""Tabular regression, init ported from a PyTorch _init_weights()."""
import logging
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("reg")

mx.random.seed(3)
N, D = 1024, 8
X = mx.random.normal((N, D))
w_true = mx.random.normal((D, 1))
Y = mx.tanh(X @ w_true) + 0.2 * X[:, :1] * X[:, 1:2]
mx.eval(X, Y)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(D, 48), nn.Linear(48, 48), nn.Linear(48, 1)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.gelu(layer(x))
        return self.layers[-1](x)


model = MLP()
# nanoGPT-style init: N(0, 0.02) weights, zero biases
model.apply(nn.init.normal(mean=0.0, std=0.02))
model.apply(nn.init.constant(0.0))
mx.eval(model.parameters())

opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step_fn = nn.value_and_grad(model, mse)
BS = 64
for epoch in range(15):
    perm = mx.random.permutation(N)
    tot = 0.0
    for i in range(0, N, BS):
        idx = perm[i:i + BS]
        loss, grads = step_fn(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    log.info("epoch=%d mse=%.5f", epoch, tot / math.ceil(N / BS))
