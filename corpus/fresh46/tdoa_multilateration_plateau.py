"""Locate 4 acoustic sources from noisy time-differences-of-arrival (TDOA).

Seven microphones sit at known positions around a 40 m x 40 m yard.  For every
source we observe arrival-time differences relative to microphone 0, with
timing jitter.  The unknowns are the 4 source positions and the speed of sound
(parametrised as a scaled log offset from 340 m/s).  Everything is fitted jointly by
gradient descent on the mean squared TDOA residual (in milliseconds).

Optimizer: Adam with a hand-written reduce-on-plateau rule (halve the lr when
the best loss has not improved by 0.1% for 150 iterations, floor 1e-4).
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

MICS = np.array(
    [[0.0, 0.0], [40.0, 0.0], [40.0, 40.0], [0.0, 40.0],
     [20.0, -3.0], [43.0, 20.0], [-2.0, 22.0]], dtype=np.float32)
TRUE_SRC = np.array([[8.0, 31.0], [27.5, 12.0], [33.0, 35.5], [14.0, 6.5]],
                    dtype=np.float32)
TRUE_C = 343.7  # m/s
JITTER_MS = 0.02
N_REPEATS = 400  # independent "claps" per source


def simulate():
    d = np.linalg.norm(TRUE_SRC[:, None, :] - MICS[None, :, :], axis=-1)  # (S, M)
    t = 1000.0 * d / TRUE_C                                               # ms
    tdoa = t[:, 1:] - t[:, :1]                                            # (S, M-1)
    obs = tdoa[None] + rng.normal(0, JITTER_MS, size=(N_REPEATS,) + tdoa.shape)
    return obs.astype(np.float32)


class Scene(nn.Module):
    def __init__(self, init_xy):
        super().__init__()
        self.src = mx.array(init_xy)           # (S, 2) metres
        self.log_c = mx.array(0.0)             # c = 340 * exp(0.05 * log_c)

    def speed(self):
        return 340.0 * mx.exp(0.05 * self.log_c)

    def __call__(self, mics):
        diff = self.src[:, None, :] - mics[None, :, :]
        dist = mx.sqrt(mx.sum(diff * diff, axis=-1) + 1e-9)
        t = 1000.0 * dist / self.speed()
        return t[:, 1:] - t[:, :1]


def main():
    obs = mx.array(simulate())
    mics = mx.array(MICS)
    # start every source at the centre of the yard, slightly perturbed
    init = np.full((4, 2), 20.0, np.float32) + rng.normal(0, 2.0, (4, 2)).astype(np.float32)
    model = Scene(init)
    mx.eval(model.parameters())

    def loss_fn(m):
        pred = m(mics)                       # (S, M-1)
        return mx.mean((obs - pred[None]) ** 2)

    step = nn.value_and_grad(model, loss_fn)
    lr = 0.1
    opt = optim.Adam(learning_rate=lr)

    # first-step gradient check: every leaf must receive signal
    _, g0 = step(model)
    bad = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    print(f"gradient check: {len(tree_flatten(g0))} leaves, zero-gradient leaves: {bad or 'none'}")

    best, since_best = math.inf, 0
    t0 = time.time()
    print(f"{'iter':>5} {'mse(ms^2)':>11} {'rms(ms)':>9} {'pos err(m)':>11} {'c(m/s)':>8} {'lr':>8}")
    for it in range(1, 8001):
        loss, grads = step(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lv = loss.item()
        if lv < best * 0.999:
            best, since_best = lv, 0
        else:
            since_best += 1
        if since_best >= 150 and lr > 1e-4:
            lr = max(lr * 0.5, 1e-4)
            opt.learning_rate = lr
            since_best = 0
        if it == 1 or it % 500 == 0:
            err = np.linalg.norm(np.array(model.src) - TRUE_SRC, axis=-1).mean()
            print(f"{it:>5} {lv:>11.6f} {math.sqrt(lv):>9.5f} {err:>11.4f} "
                  f"{model.speed().item():>8.2f} {lr:>8.2e}")

    err = np.linalg.norm(np.array(model.src) - TRUE_SRC, axis=-1)
    print(f"done in {time.time() - t0:.1f}s")
    print("per-source position error (m): " + ", ".join(f"{e:.3f}" for e in err))
    print(f"speed of sound: fitted {model.speed().item():.2f} m/s, true {TRUE_C:.2f} m/s")
    print(f"noise floor: rms timing jitter {JITTER_MS:.3f} ms (mse {JITTER_MS**2:.6f})")


if __name__ == "__main__":
    main()
