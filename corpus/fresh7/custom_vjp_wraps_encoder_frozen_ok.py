"""Encoder + classifier with gradient clipping on the encoder path via mx.custom_function (MLX)."""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

rng = np.random.default_rng(4)
D, K = 20, 6
proto = rng.normal(0, 1, (K, D)).astype(np.float32)


def batch(n):
    y = rng.integers(0, K, n)
    x = proto[y] + 0.8 * rng.normal(0, 1, (n, D)).astype(np.float32)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


def clip_backward(clip):
    """Identity forward; clip the incoming cotangent elementwise on the way back."""
    @mx.custom_function
    def wrapped(h):
        return h

    @wrapped.vjp
    def wrapped_vjp(primals, cotangent, output):
        return (mx.clip(cotangent, -clip, clip),)

    return wrapped


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(D, 32), nn.Tanh(), nn.Linear(32, 3))
        self.head = nn.Linear(3, K)
        self._clip = clip_backward(0.5)

    def __call__(self, x):
        h = self._clip(self.encoder(x))
        return self.head(nn.tanh(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = Net()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)
xv, yv = batch(1000)

for step in range(1, 1201):
    x, y = batch(64)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 100 == 0:
        acc = mx.mean(mx.argmax(model(xv), axis=1) == yv).item()
        log.info("step=%d ce=%.4f val_acc=%.3f", step, loss.item(), acc)
