# Calibrate a 3-output pyranometer head (global / direct / diffuse irradiance,
# in hundreds of W/m^2) from 8 raw thermopile channels.  Matrix weights go
# through a hand-rolled Muon (Newton-Schulz orthogonalised momentum), every
# flat parameter (biases, gains, offsets) falls back to Adam.
import time
from typing import Callable, Union

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam, Optimizer


def zeropower_via_newtonschulz5(G, steps=10, eps=1e-7):
    assert len(G.shape) == 2
    a, b, c = (3.4445, -4.7750, 2.0315)
    X = G.astype(mx.bfloat16)
    X /= mx.linalg.norm(X) + eps  # ensure top singular value <= 1
    if G.shape[0] > G.shape[1]:
        X = X.T
    for _ in range(steps):
        A = X @ X.T
        B = A @ X
        X = a * X + b * B + c * A @ B
    if G.shape[0] > G.shape[1]:
        X = X.T
    return X


class Muon(Optimizer):
    """MomentUm Orthogonalized by Newton-schulz, Adam for non-matrix params."""

    def __init__(
        self,
        learning_rate: Union[float, Callable[[mx.array], mx.array]] = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        weight_decay: float = 0.0,
        backend_steps: int = 5,
        alternate_optimizer: Optimizer = None,
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.nesterov = nesterov
        self.weight_decay = weight_decay
        self.backend_steps = backend_steps
        self.alternate_optimizer = alternate_optimizer or Adam(1e-3)
        self.orthogonalize = zeropower_via_newtonschulz5

    def init_single(self, parameter: mx.array, state: dict):
        # if parameter.ndim != 2:
        #     return self.alternate_optimizer.init_single(parameter, state)
        state["muon_v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict):
        if parameter.ndim != 2:  # flat parameters go to the alternate optimizer
            return parameter
            # return self.alternate_optimizer.apply_single(gradient, parameter, state)

        if self.weight_decay != 0:
            gradient += self.weight_decay * parameter

        buf = state["muon_v"]
        buf = self.momentum * buf + gradient
        state["muon_v"] = buf

        gradient = (gradient + self.momentum * buf) if self.nesterov else buf
        gradient = self.orthogonalize(gradient, steps=self.backend_steps)
        scale = max(1, gradient.shape[0] / gradient.shape[1]) ** 0.5

        return parameter - self.learning_rate.astype(gradient.dtype) * scale * gradient


class Head(nn.Module):
    def __init__(self, n_in=8, n_hidden=32, n_out=3):
        super().__init__()
        self.l1 = nn.Linear(n_in, n_hidden)
        self.l2 = nn.Linear(n_hidden, n_out)
        self.gain = mx.ones((n_out,))
        self.offset = mx.zeros((n_out,))

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x))) * self.gain + self.offset


def make_data(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    W = mx.random.normal((8, 3), key=mx.random.key(7)) * 0.8
    dark = mx.array([6.0, -4.5, 7.5])  # dark-current offsets of the three heads
    x = mx.random.normal((n, 8), key=k1)
    y = mx.tanh(x) @ W + dark + 0.05 * mx.random.normal((n, 3), key=k2)
    return x, y


mx.random.seed(3)
x_tr, y_tr = make_data(2048, mx.random.key(11))
x_va, y_va = make_data(512, mx.random.key(12))

model = Head()
mx.eval(model.parameters())
opt = Muon(learning_rate=0.02, alternate_optimizer=Adam(learning_rate=0.05))


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


step = nn.value_and_grad(model, loss_fn)
bs = 128
t0 = time.time()
for epoch in range(1, 31):
    perm = mx.random.permutation(x_tr.shape[0])
    tot = 0.0
    for i in range(0, x_tr.shape[0], bs):
        idx = perm[i:i + bs]
        loss, grads = step(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    nb = x_tr.shape[0] // bs
    va = loss_fn(model, x_va, y_va).item()
    off = ", ".join(f"{v:+.2f}" for v in model.offset.tolist())
    b2 = mx.abs(model.l2.bias).mean().item()
    if epoch % 3 == 0 or epoch == 1:
        print(f"ep {epoch:02d}  train_mse {tot / nb:8.4f}  val_mse {va:8.4f}  "
              f"offset [{off}]  |b2| {b2:.3f}")
print(f"done in {time.time() - t0:.1f}s  final val_mse {va:.4f}")
