"""Overfit sanity check: can a 2-layer state-space model memorise 3 clips?

Discretised SSM (Euler / first-order hold): A_d = I + dt*A, B_d = dt*B with
learnable A, B, C, D and a learnable log step size.
"""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("ssm.overfit")

OVERFIT = True
if OVERFIT:
    batch_size = 3
    learning_rate = 1e-2   # higher learning rate for overfitting
    num_epochs = 120
else:
    batch_size = 32
    learning_rate = 1e-3
    num_epochs = 10


class StateSpace(nn.Module):
    def __init__(self, dim_input, dim_state, dim_output):
        super().__init__()
        self.dim_state = dim_state
        self.A = nn.Linear(dim_state, dim_state, bias=False)
        self.B = nn.Linear(dim_input, dim_state, bias=False)
        self.C = nn.Linear(dim_state, dim_output, bias=False)
        self.D = nn.Linear(dim_input, dim_output, bias=False)
        self.log_dt = mx.zeros((1,))
        # slightly negative diagonal -> stable system at init
        self.A.weight = -0.5 * mx.eye(dim_state) + 0.1 * mx.random.normal((dim_state, dim_state))
        self.B.weight = 0.1 * mx.random.normal((dim_state, dim_input))
        self.C.weight = 0.1 * mx.random.normal((dim_output, dim_state))
        self.D.weight = 0.01 * mx.random.normal((dim_output, dim_input))

    def discretize(self):
        dt = mx.exp(self.log_dt)
        A_d = mx.eye(self.dim_state) + dt * self.A.weight
        B_d = dt * self.B.weight
        return A_d, B_d

    def __call__(self, u):
        b, T, _ = u.shape
        A_d, B_d = self.discretize()
        h = mx.zeros((b, self.dim_state))
        ys = []
        for t in range(T):
            x_t = u[:, t, :]
            h = h @ A_d.T + x_t @ B_d.T
            ys.append(h @ self.C.weight.T + x_t @ self.D.weight.T)
        return mx.stack(ys, axis=1)


class S4Model(nn.Module):
    def __init__(self, dim_input, dim_state, dim_output, n_classes):
        super().__init__()
        self.layer_0 = StateSpace(dim_input, dim_state, dim_output)
        self.layer_1 = StateSpace(dim_output, dim_state, dim_output)
        self.head = nn.Linear(dim_output, n_classes)

    def __call__(self, x):
        x = nn.relu(self.layer_0(x))
        x = nn.relu(self.layer_1(x))
        return self.head(x)


def make_clips(n, frames=100, n_mels=16, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 0.2, (n, frames, n_mels)).astype(np.float32)
    y = np.arange(n) % n_classes
    for i in range(n):
        band = 4 * y[i] + 2
        X[i, 20:80, band:band + 3] += 1.0
    return mx.array(X), mx.array(y.astype(np.int32))


def main():
    mx.random.seed(7)
    X, y = make_clips(batch_size)
    log.info("overfit mode: %d clips, lr=%g, epochs=%d", len(y), learning_rate, num_epochs)
    model = S4Model(16, 40, 32, 3)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=learning_rate)

    def loss_fn(params, x, t):
        model.update(params)
        logits = model(x)
        pooled = mx.mean(logits, axis=1)
        return mx.mean(nn.losses.cross_entropy(pooled, t))

    grad_fn = mx.value_and_grad(loss_fn)
    for epoch in range(num_epochs):
        loss, grads = grad_fn(model.parameters(), X, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        if epoch % 10 == 0 or epoch == num_epochs - 1:
            pooled = mx.mean(model(X), axis=1)
            acc = (mx.argmax(pooled, axis=1) == y).mean().item()
            dts = [mx.exp(m.log_dt).item() for m in (model.layer_0, model.layer_1)]
            log.info("epoch %3d loss %.5f acc %.2f dt %.3f/%.3f", epoch, loss.item(), acc, *dts)


if __name__ == "__main__":
    main()
