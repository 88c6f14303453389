"""Tune the two gains of an alpha-beta tracker by backprop through the filter.

Radar-style 1-D tracks: constant velocity with random manoeuvres (velocity
jumps), position measured every 0.1 s with 2 m noise.  The filter is unrolled
over 60 steps inside the loss; the gains are logit-parametrised so they stay in
(0, 1) and (0, 2*(1-alpha)) territory.  Metric: RMS position error of the
filtered track on a fixed validation set, compared with the raw measurements.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

DT, T, SIGMA = 0.1, 60, 2.0
rng = np.random.default_rng(11)


def simulate(n_tracks):
    pos = np.zeros((n_tracks, T), np.float32)
    p = rng.uniform(-50, 50, n_tracks)
    v = rng.normal(0, 8, n_tracks)
    for t in range(T):
        jump = rng.random(n_tracks) < 0.04
        v = v + jump * rng.normal(0, 6, n_tracks) + rng.normal(0, 0.3, n_tracks)
        p = p + v * DT
        pos[:, t] = p
    meas = pos + rng.normal(0, SIGMA, pos.shape).astype(np.float32)
    return mx.array(pos), mx.array(meas)


class AlphaBeta(nn.Module):
    def __init__(self):
        super().__init__()
        # start from a sluggish tracker: alpha ~0.12, beta ~0.01
        self.a_logit = mx.array(-2.0)
        self.b_logit = mx.array(-3.0)

    def gains(self):
        alpha = mx.sigmoid(self.a_logit)
        beta = 2.0 * (1.0 - alpha) * mx.sigmoid(self.b_logit)
        return alpha, beta

    def __call__(self, meas):
        alpha, beta = self.gains()
        x = meas[:, 0]
        v = (meas[:, 1] - meas[:, 0]) / DT
        out = [x]
        for t in range(1, meas.shape[1]):
            x_pred = x + DT * v
            r = meas[:, t] - x_pred
            x = x_pred + alpha * r
            v = v + (beta / DT) * r
            out.append(x)
        return mx.stack(out, axis=1)


def loss_fn(model, meas, truth):
    est = model(meas)
    return mx.mean(mx.square(est[:, 5:] - truth[:, 5:]))  # skip the start-up transient


model = AlphaBeta()
mx.eval(model.parameters())
steps = 900
sched = optim.cosine_decay(0.04, steps, end=0.004)
opt = optim.SGD(learning_rate=sched, momentum=0.8)

val_truth, val_meas = simulate(400)
raw_rmse = math.sqrt(mx.mean(mx.square(val_meas - val_truth)[:, 5:]).item())

state = [model.state, opt.state]


def step(meas, truth):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, meas, truth)
    opt.update(model, grads)
    return loss


step = mx.compile(step, inputs=state, outputs=state)

# first-step gradient check: both gains must receive signal
truth0, meas0 = simulate(256)
_, g0 = nn.value_and_grad(model, loss_fn)(model, meas0, truth0)
print("first-step |grad|: a_logit=%.3e b_logit=%.3e" % (abs(g0["a_logit"].item()), abs(g0["b_logit"].item())))

print(f"raw measurement RMSE on validation: {raw_rmse:.3f} m")
t0 = time.time()
for it in range(1, steps + 1):
    truth, meas = simulate(256)
    loss = step(meas, truth)
    mx.eval(loss, state)
    if it % 100 == 0 or it == 1:
        val_rmse = math.sqrt(loss_fn(model, val_meas, val_truth).item())
        a, b = model.gains()
        print(f"iter {it:04d} | batch rmse {math.sqrt(loss.item()):.3f} m | val rmse {val_rmse:.3f} m"
              f" | alpha {a.item():.3f} beta {b.item():.3f} | lr {opt.learning_rate.item():.3f}")

val_rmse = math.sqrt(loss_fn(model, val_meas, val_truth).item())
print(f"done in {time.time() - t0:.1f}s: filtered val RMSE {val_rmse:.3f} m vs raw {raw_rmse:.3f} m"
      f" ({100 * (1 - val_rmse / raw_rmse):.0f}% lower)")
