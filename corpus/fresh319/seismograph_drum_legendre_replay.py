"""Seismograph drum replay: read back the ground motion recorded D ticks ago.

A synthetic drum trace (sum of 6 slow random sinusoids + pen jitter) streams
in one tick at a time; at every tick the model must output the trace value
from D ticks earlier, together with its own uncertainty (Gaussian NLL with a
learned variance, so a good fit drives the loss below zero).

Model: a Legendre Memory Unit. The memory is the constant LegT state space
(order 12, window theta = 140 ticks), discretised by zero-order hold in
numpy; its impulse response is applied as a causal Toeplitz matmul, so the
whole sequence is processed in parallel. Learned parts: the input encoder
a linear decoder for the mean and a small SiLU MLP for the variance
(the variance head is re-created at the start of each stage).

Curriculum: stage 1 replays D = 35 ticks back, stage 2 replays D = 100 ticks
back (the loss jumps when the stage changes, then falls again). Optimizer:
Adam with its own warmup from exactly 0 at the start of each stage.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T = 256
ORDER = 12
THETA = 140.0
BATCH = 16
STAGES = [(35, 500), (100, 600)]   # (delay, steps)


def expm(a):
    norm = np.abs(a).sum(axis=1).max()
    s = max(0, int(np.ceil(np.log2(norm))) + 1)
    a = a / (2 ** s)
    out = np.eye(a.shape[0])
    term = np.eye(a.shape[0])
    for k in range(1, 20):
        term = term @ a / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


def legt_impulse(order, theta, length):
    q = np.arange(order)
    r = (2 * q + 1)[:, None] / theta
    i, j = np.meshgrid(q, q, indexing="ij")
    a = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    b = ((-1.0) ** q)[:, None] * r
    aug = np.zeros((order + 1, order + 1))
    aug[:order, :order] = a
    aug[:order, order:] = b
    e = expm(aug)
    ad, bd = e[:order, :order], e[:order, order:]
    h = np.zeros((length, order))
    v = bd[:, 0]
    for k in range(length):
        h[k] = v
        v = ad @ v
    return h.astype(np.float32)


def make_traces(n, rng):
    t = np.arange(T)[None, None, :]
    freq = rng.uniform(0.003, 0.015, size=(n, 6, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 6, 1))
    amp = rng.uniform(0.2, 0.6, size=(n, 6, 1))
    x = (amp * np.sin(2 * np.pi * freq * t + phase)).sum(axis=1)
    x += 0.03 * rng.standard_normal(x.shape)
    return x.astype(np.float32)


class LegendreReplay(nn.Module):
    def __init__(self):
        super().__init__()
        impulse = legt_impulse(ORDER, THETA, T)                      # (T, ORDER), constant
        lag = np.arange(T)[None, :] - np.arange(T)[:, None]          # [s, t] = t - s
        toeplitz = impulse[np.clip(lag, 0, T - 1)] * (lag >= 0)[..., None]   # (s, t, ORDER)
        self._toeplitz = mx.array(toeplitz.reshape(T, T * ORDER).astype(np.float32))
        self.enc = nn.Linear(1, 1)
        self.decode = nn.Linear(ORDER + 1, 1)
        self.spread = nn.Sequential(nn.Linear(ORDER + 1, 32), nn.SiLU(), nn.Linear(32, 1))

    def __call__(self, x):                        # x: (B, T)
        u = self.enc(x[..., None])[..., 0]        # (B, T)
        # memory m_t = sum_k h[k] u_{t-k}
        m = (u @ self._toeplitz).reshape(x.shape[0], T, ORDER)
        feats = mx.concatenate([m, x[..., None]], axis=-1)
        mean = self.decode(feats)[..., 0]
        var = nn.softplus(self.spread(feats)[..., 0]) + 1e-4
        return mean, var


def stage_loss(model, x, delay):
    mean, var = model(x)
    target = x[:, : T - delay]
    return nn.losses.gaussian_nll_loss(mean[:, delay:], target, var[:, delay:], full=True, reduction="mean")


def val_metrics(model, x, delay):
    mean, var = model(x)
    target = x[:, : T - delay]
    mu, v = mean[:, delay:], var[:, delay:]
    nll = nn.losses.gaussian_nll_loss(mu, target, v, full=True, reduction="mean").item()
    mse = ((mu - target) ** 2).mean().item()
    zero_mse = (target ** 2).mean().item()
    copy_mse = ((x[:, delay:] - target) ** 2).mean().item()
    z = ((mu - target) / mx.sqrt(v))
    cover = (mx.abs(z) < 1.96).astype(mx.float32).mean().item()
    return nll, mse, zero_mse, copy_mse, cover


def main():
    np.random.seed(1)
    mx.random.seed(1)
    rng = np.random.default_rng(1)
    xtr = mx.array(make_traces(1500, rng))
    xva = mx.array(make_traces(200, rng))

    model = LegendreReplay()
    mx.eval(model.parameters())
    t0 = time.time()
    for s, (delay, steps) in enumerate(STAGES, start=1):
        # each stage gets a fresh uncertainty head: the previous stage's variance
        # is calibrated for the previous delay only
        model.spread = nn.Sequential(nn.Linear(ORDER + 1, 32), nn.SiLU(), nn.Linear(32, 1))
        mx.eval(model.parameters())
        warm = optim.linear_schedule(0.0, 1e-2, 50)
        cos = optim.cosine_decay(1e-2, steps - 50, 1e-4)
        opt = optim.Adam(learning_rate=optim.join_schedules([warm, cos], [50]))
        grad_fn = nn.value_and_grad(model, lambda m, xb: stage_loss(m, xb, delay))
        nll, mse, zero_mse, copy_mse, cover = val_metrics(model, xva, delay)
        print(f"stage {s} start  delay {delay:3d}  val_nll {nll:8.4f}  val_mse {mse:.5f}  "
              f"baselines: zero_mse {zero_mse:.5f} copy_now_mse {copy_mse:.5f}")
        every = 100 if s == 1 else 300
        for step in range(1, steps + 1):
            idx = mx.array(rng.integers(0, xtr.shape[0], size=BATCH))
            loss, grads = grad_fn(model, xtr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step % every == 0:
                nll, mse, zero_mse, copy_mse, cover = val_metrics(model, xva, delay)
                print(f"stage {s} step {step:4d}  lr {opt.learning_rate.item():.2e}  train_nll {loss.item():8.4f}  "
                      f"val_nll {nll:8.4f}  val_mse {mse:.5f}  95%_cover {cover:.3f}")
        nll, mse, zero_mse, copy_mse, cover = val_metrics(model, xva, delay)
        print(f"stage {s} end    delay {delay:3d}  val_nll {nll:8.4f}  val_mse {mse:.5f} "
              f"(zero {zero_mse:.5f}, copy_now {copy_mse:.5f})  95%_cover {cover:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
