"""Signal-flag recall with an orthogonal (Cayley) RNN.

A signalman sees one of 8 signal flags hoisted, then T "noise" readings (wind
flutter, a continuous 3-vector per tick, no flag information), and at the end has
to report which flag was hoisted first.  The recurrent matrix is kept exactly
orthogonal through the Cayley transform W = (I - A)(I + A)^-1 of a skew-symmetric
A built from a raw parameter.  MLX has no VJP for the matrix inverse, so the
inverse is wrapped in mx.custom_function with its own vjp
(d inv(M) = -inv(M) dM inv(M)).

Curriculum: T = 8, then 20, then 40 hold ticks.  At each stage change the loss
goes back up; with long holds it first sits at chance (ln 8 = 2.079 nats) for a
while before the memory path is found.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FLAGS = 8
HIDDEN = 32
BATCH = 64


@mx.custom_function
def inv(m):
    return mx.linalg.inv(m, stream=mx.cpu)


@inv.vjp
def inv_vjp(primals, cotangent, output):
    # output = M^-1 ; dL/dM = -(M^-1)^T G (M^-1)^T
    w = output
    return (-(w.T @ cotangent @ w.T),)


class CayleyRNN(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.hidden = hidden
        self.skew_raw = 0.05 * mx.random.normal((hidden, hidden))
        self.inp = nn.Linear(n_in, hidden)
        self.head = nn.Linear(hidden, n_out)

    def recurrent_matrix(self):
        a = self.skew_raw - self.skew_raw.T
        eye = mx.eye(self.hidden)
        return (eye - a) @ inv(eye + a)

    def __call__(self, x):
        # x: (B, T, n_in)
        w = self.recurrent_matrix()
        u = self.inp(x)
        h = mx.zeros((x.shape[0], self.hidden))
        for t in range(x.shape[1]):
            h = mx.tanh(u[:, t] + h @ w)
        return self.head(h)


def make_batch(rng, n, hold):
    flags = rng.integers(0, N_FLAGS, size=n)
    x = np.zeros((n, hold + 1, N_FLAGS + 3), dtype=np.float32)
    x[np.arange(n), 0, flags] = 1.0
    x[:, 1:, N_FLAGS:] = rng.normal(0.0, 0.5, size=(n, hold, 3))
    return mx.array(x), mx.array(flags.astype(np.int32))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean()


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    model = CayleyRNN(N_FLAGS + 3, HIDDEN, N_FLAGS)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    print("signal-flag recall, %d flags, chance = ln(%d) = %.4f nats" %
          (N_FLAGS, N_FLAGS, math.log(N_FLAGS)))

    x0, y0 = make_batch(rng, BATCH, 8)
    _, g0 = step_fn(model, x0, y0)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print("gradient check: %d leaves, %d all-zero %s" % (len(leaves), len(zero), zero))

    stages = [(8, 250), (20, 250), (40, 300)]
    t0 = time.time()
    it = 0
    for si, (hold, n_steps) in enumerate(stages, 1):
        vx, vy = make_batch(np.random.default_rng(1000 + hold), 512, hold)
        print("--- stage %d/%d: hold %d ticks, %d steps ---" % (si, len(stages), hold, n_steps))
        window = []
        for k in range(1, n_steps + 1):
            it += 1
            x, y = make_batch(rng, BATCH, hold)
            loss, grads = step_fn(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if k == 1 or k % 50 == 0:
                w = model.recurrent_matrix()
                ortho = mx.abs(w.T @ w - mx.eye(HIDDEN)).max().item()
                vl = loss_fn(model, vx, vy).item()
                va = accuracy(model, vx, vy).item()
                print("stage %d  it %4d  train %.4f nats  valid %.4f nats  "
                      "valid acc %5.1f %%  |W'W-I| %.1e  (%.1fs)" %
                      (si, it, float(np.mean(window)), vl, 100 * va, ortho, time.time() - t0))
                window = []
    print("done: %d updates in %.1fs" % (it, time.time() - t0))


if __name__ == "__main__":
    main()
