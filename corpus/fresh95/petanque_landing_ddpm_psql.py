"""Where do the boules land?  A tiny DDPM over 2-D landing spots around the jack.

Landing positions (cm, jack at the origin) are simulated for a club evening on a
sloped terrain: "pointers" roll close to the jack, "shooters" land in a loose ring
past it, and everything drifts a little downhill.  A denoising diffusion model
(epsilon prediction, linear noise schedule, T = 50) learns the distribution; every
400 steps 1500 spots are sampled (a silent phase) and compared with held-out throws
by the energy distance.

Output is a psql-style result table printed at the end, plus a few plain lines.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

T = 50
STEPS = 2000
BATCH = 256
EVAL_EVERY = 400
N_SAMPLE = 1500


def simulate_throws(n, rng):
    kind = rng.random(n)
    pts = np.empty((n, 2))
    # pointers: tight, slightly short of the jack
    m = kind < 0.55
    k = m.sum()
    pts[m] = rng.normal([0.0, -8.0], [9.0, 12.0], size=(k, 2))
    # shooters: a ring past the jack
    m2 = (kind >= 0.55) & (kind < 0.9)
    k = m2.sum()
    ang = rng.normal(math.pi / 2, 0.5, size=k)
    rad = rng.normal(55.0, 10.0, size=k)
    pts[m2] = np.stack([rad * np.cos(ang), rad * np.sin(ang) - 20.0], 1)
    # wild throws: wide and rare
    m3 = kind >= 0.9
    pts[m3] = rng.normal([30.0, 10.0], [40.0, 35.0], size=(m3.sum(), 2))
    # the terrain falls away to the right
    pts[:, 0] += 0.15 * np.abs(pts[:, 1])
    return pts.astype(np.float32)


def energy_distance(a, b):
    def mean_dist(x, y):
        d = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))
        return d.mean()

    return 2 * mean_dist(a, b) - mean_dist(a, a) - mean_dist(b, b)


class TimeEmbed(nn.Module):
    def __init__(self, dims=16):
        super().__init__()
        half = dims // 2
        self._freqs = mx.exp(-math.log(1000.0) * mx.arange(half) / half)
        self.proj = nn.Linear(dims, 64)

    def __call__(self, t):
        a = t[:, None].astype(mx.float32) * self._freqs[None, :]
        return nn.silu(self.proj(mx.concatenate([mx.sin(a), mx.cos(a)], axis=1)))


class EpsNet(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.temb = TimeEmbed()
        self.inp = nn.Linear(2 + 64, hidden)
        self.h1 = nn.Linear(hidden, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, x, t):
        h = nn.silu(self.inp(mx.concatenate([x, self.temb(t)], axis=1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


def linear_schedule(T, lo=1e-4, hi=0.2):
    return np.linspace(lo, hi, T).astype(np.float32)


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)

    raw_train = simulate_throws(30000, rng)
    raw_test = simulate_throws(N_SAMPLE, rng)
    mu, sd = raw_train.mean(0), raw_train.std(0)
    train = (raw_train - mu) / sd
    test = raw_test

    betas = linear_schedule(T)
    alphas = 1.0 - betas
    abar = np.cumprod(alphas).astype(np.float32)
    sqrt_ab = mx.array(np.sqrt(abar))
    sqrt_1m_ab = mx.array(np.sqrt(1 - abar))

    model = EpsNet()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))

    warm = 200
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, STEPS - warm, 1e-4)],
        [warm],
    )
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(model, x0, t, eps):
        xt = sqrt_ab[t][:, None] * x0 + sqrt_1m_ab[t][:, None] * eps
        return mx.mean(mx.square(model(xt, t) - eps))

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def draw_batch():
        idx = rng.integers(0, train.shape[0], size=BATCH)
        t = rng.integers(0, T, size=BATCH)
        eps = rng.standard_normal((BATCH, 2)).astype(np.float32)
        return mx.array(train[idx]), mx.array(t.astype(np.int32)), mx.array(eps)

    # one eager look at the gradients before compiling the step
    x0, t, eps = draw_batch()
    _, g = loss_and_grad(model, x0, t, eps)
    flat = tree_flatten(g)
    zero = [k for k, v in flat if float(mx.max(mx.abs(v))) == 0.0]
    print(f"data: {raw_train.shape[0]} training throws, {raw_test.shape[0]} held out; "
          f"eps-net has {n_params} weights in {len(flat)} tensors")
    print(f"gradient check: {len(flat) - len(zero)}/{len(flat)} tensors have a non-zero gradient"
          + (f" (zero: {zero})" if zero else ""))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x0, t, eps):
        loss, grads = loss_and_grad(model, x0, t, eps)
        opt.update(model, grads)
        return loss

    a_np, ab_np, b_np = alphas, abar, betas

    def sample(n):
        x = mx.random.normal((n, 2))
        for i in reversed(range(T)):
            tt = mx.full((n,), i, dtype=mx.int32)
            eps_hat = model(x, tt)
            mean = (x - b_np[i] / math.sqrt(1 - ab_np[i]) * eps_hat) / math.sqrt(a_np[i])
            if i > 0:
                var = b_np[i] * (1 - ab_np[i - 1]) / (1 - ab_np[i])
                x = mean + math.sqrt(var) * mx.random.normal((n, 2))
            else:
                x = mean
            mx.eval(x)
        return np.array(x) * sd + mu

    gauss = rng.standard_normal((N_SAMPLE, 2)).astype(np.float32) * sd + mu
    ref_floor = energy_distance(simulate_throws(N_SAMPLE, rng), test)
    ref_gauss = energy_distance(gauss, test)
    test_r = np.sqrt((test ** 2).sum(1))

    rows = []
    t0 = time.perf_counter()
    samp = sample(N_SAMPLE)
    rows.append((0, float(sched(mx.array(0))), None, energy_distance(samp, test),
                 np.median(np.sqrt((samp ** 2).sum(1))), time.perf_counter() - t0))

    window = []
    for it in range(1, STEPS + 1):
        x0, t, eps = draw_batch()
        loss = step(x0, t, eps)
        mx.eval(loss, state)
        window.append(loss.item())
        if it % EVAL_EVERY == 0:
            samp = sample(N_SAMPLE)
            rows.append((it, float(sched(mx.array(it))), float(np.mean(window)),
                         energy_distance(samp, test),
                         np.median(np.sqrt((samp ** 2).sum(1))),
                         time.perf_counter() - t0))
            window = []

    total_ms = (time.perf_counter() - t0) * 1000

    print(f"reference: energy distance of a fresh evening's throws = {ref_floor:.2f} cm, "
          f"of a matched Gaussian = {ref_gauss:.2f} cm; held-out median distance to jack "
          f"= {np.median(test_r):.1f} cm")
    print()
    head = [" step ", " lr       ", " eps_mse ", " energy_dist_cm ", " median_r_cm ", " secs  "]
    print("|".join(head))
    print("+".join("-" * len(h) for h in head))
    for s, lr, l, ed, r, secs in rows:
        ls = "" if l is None else f"{l:.4f}"
        print(f" {s:>4} | {lr:.6f} | {ls:>7} | {ed:>14.3f} | {r:>11.1f} | {secs:>5.1f}")
    print(f"({len(rows)} rows)")
    print()
    print(f"Time: {total_ms:.3f} ms")


if __name__ == "__main__":
    main()
