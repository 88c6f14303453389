"""Kelp holdfast survey: 2-D density of holdfast positions on a rocky reef.

Neural spline flow (rational-quadratic spline couplings, Durkan et al. 2019)
trained by maximum likelihood. The run is split in two sessions: session 1
trains and writes a checkpoint (weights + Adam state + step counter), session 2
builds a fresh model and optimizer, loads the checkpoint and carries on.
"""
import math
import os
import tempfile
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

BOUND = 4.0
N_BINS = 8
MIN_W = 1e-3
MIN_D = 1e-3


def make_reef(n, rng):
    """Positions in units of 100 m: a curved reef-edge band plus two boulder patches."""
    k = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    out = np.empty((n, 2), dtype=np.float64)
    m = k == 0
    t = rng.uniform(-1.2, 1.2, size=m.sum())
    out[m, 0] = 2.2 * np.sin(t)
    out[m, 1] = 2.2 * np.cos(t) - 1.0 + 0.12 * rng.standard_normal(m.sum())
    out[m, 0] += 0.12 * rng.standard_normal(m.sum())
    m = k == 1
    out[m] = np.array([-0.9, -1.6]) + 0.18 * rng.standard_normal((m.sum(), 2))
    m = k == 2
    out[m] = np.array([1.1, -1.3]) + np.array([0.30, 0.10]) * rng.standard_normal((m.sum(), 2))
    return (0.1 * out).astype(np.float32)


def rq_spline(x, w_raw, h_raw, d_raw):
    """Monotone rational-quadratic spline on [-BOUND, BOUND], identity outside."""
    inside = mx.abs(x) < BOUND
    xc = mx.clip(x, -BOUND + 1e-5, BOUND - 1e-5)

    w = mx.softmax(w_raw, axis=-1)
    w = MIN_W + (1 - MIN_W * N_BINS) * w
    cw = mx.concatenate([mx.zeros(w.shape[:-1] + (1,)), mx.cumsum(w, axis=-1)], axis=-1)
    cw = 2 * BOUND * cw - BOUND
    cw = mx.concatenate([cw[..., :1] * 0 - BOUND, cw[..., 1:-1], cw[..., -1:] * 0 + BOUND], axis=-1)
    w = cw[..., 1:] - cw[..., :-1]

    h = mx.softmax(h_raw, axis=-1)
    h = MIN_W + (1 - MIN_W * N_BINS) * h
    ch = mx.concatenate([mx.zeros(h.shape[:-1] + (1,)), mx.cumsum(h, axis=-1)], axis=-1)
    ch = 2 * BOUND * ch - BOUND
    ch = mx.concatenate([ch[..., :1] * 0 - BOUND, ch[..., 1:-1], ch[..., -1:] * 0 + BOUND], axis=-1)
    h = ch[..., 1:] - ch[..., :-1]

    ones = mx.ones(d_raw.shape[:-1] + (1,))
    d = mx.concatenate([ones, MIN_D + nn.softplus(d_raw), ones], axis=-1)

    idx = mx.sum(xc[..., None] >= cw[..., 1:-1], axis=-1, keepdims=True).astype(mx.int32)
    idx = mx.stop_gradient(idx)
    xk = mx.take_along_axis(cw, idx, axis=-1)[..., 0]
    wk = mx.take_along_axis(w, idx, axis=-1)[..., 0]
    yk = mx.take_along_axis(ch, idx, axis=-1)[..., 0]
    hk = mx.take_along_axis(h, idx, axis=-1)[..., 0]
    dk = mx.take_along_axis(d, idx, axis=-1)[..., 0]
    dk1 = mx.take_along_axis(d, idx + 1, axis=-1)[..., 0]

    delta = hk / wk
    th = (xc - xk) / wk
    tt = th * (1 - th)
    denom = delta + (dk1 + dk - 2 * delta) * tt
    y = yk + hk * (delta * th * th + dk * tt) / denom
    dnum = delta * delta * (dk1 * th * th + 2 * delta * tt + dk * (1 - th) ** 2)
    logdet = mx.log(dnum) - 2 * mx.log(denom)
    return mx.where(inside, y, x), mx.where(inside, logdet, 0.0)


class SplineCoupling(nn.Module):
    """Transforms coordinate `dst` with a spline whose knots depend on coordinate `src`."""

    def __init__(self, src, dst, hidden=64):
        super().__init__()
        self.src, self.dst = src, dst
        self.net = nn.Sequential(
            nn.Linear(1, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
            nn.Linear(hidden, 3 * N_BINS - 1),
        )
        last = self.net.layers[-1]
        last.weight = last.weight * 0.01
        last.bias = mx.zeros_like(last.bias)

    def __call__(self, x):
        p = self.net(x[:, self.src:self.src + 1])
        w_raw, h_raw, d_raw = p[:, :N_BINS], p[:, N_BINS:2 * N_BINS], p[:, 2 * N_BINS:]
        y, ld = rq_spline(x[:, self.dst], w_raw, h_raw, d_raw)
        cols = [x[:, 0], x[:, 1]]
        cols[self.dst] = y
        return mx.stack(cols, axis=1), ld


class SplineFlow(nn.Module):
    def __init__(self, n_layers=4):
        super().__init__()
        self.loc = mx.zeros((2,))
        self.log_scale = mx.zeros((2,))
        self.layers = [SplineCoupling(i % 2, 1 - i % 2, hidden=48) for i in range(n_layers)]

    def init_from_data(self, x):
        mean, std = x.mean(0), x.std(0)
        self.log_scale = mx.array(-np.log(std))
        self.loc = mx.array(-mean / std)

    def log_prob(self, x):
        x = x * mx.exp(self.log_scale) + self.loc
        total = mx.sum(self.log_scale) * mx.ones((x.shape[0],))
        for layer in self.layers:
            x, ld = layer(x)
            total = total + ld
        base = -0.5 * mx.sum(x * x, axis=1) - math.log(2 * math.pi)
        return base + total


def nll(model, x):
    return -mx.mean(model.log_prob(x))


def gaussian_nll(train, val):
    mu = train.mean(0)
    cov = np.cov(train.T)
    inv = np.linalg.inv(cov)
    diff = val - mu
    maha = np.einsum("ni,ij,nj->n", diff, inv, diff)
    return float(np.mean(0.5 * maha + 0.5 * np.log(np.linalg.det(cov)) + math.log(2 * math.pi)))


def build(total_steps, warmup):
    model = SplineFlow()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warmup), optim.cosine_decay(3e-3, total_steps - warmup, 1e-4)],
        [warmup],
    )
    opt = optim.Adam(learning_rate=sched)
    return model, opt


def run_session(model, opt, train, val, start, stop, batch, rng, report_at):
    loss_and_grad = nn.value_and_grad(model, nll)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb):
        loss, grads = loss_and_grad(model, xb)
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        return loss, gnorm

    n = train.shape[0]
    for step in range(start, stop):
        idx = rng.integers(0, n, size=batch)
        loss, gnorm = train_step(mx.array(train[idx]))
        mx.eval(state, loss)
        if (step + 1) in report_at:
            v = nll(model, mx.array(val)).item()
            lr = opt.learning_rate.item()
            print(f"step {step + 1:5d}  lr {lr:.2e}  train_nll {loss.item():+.4f}  val_nll {v:+.4f}  |g| {gnorm.item():.2f}")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    train = make_reef(12000, rng)
    val = make_reef(2000, rng)
    base_val = gaussian_nll(train.astype(np.float64), val.astype(np.float64))
    print(f"holdfasts: train {train.shape[0]}  val {val.shape[0]}  (units of 100 m)")
    print(f"baseline full-covariance Gaussian val_nll {base_val:+.4f}")

    total, warmup, half, batch = 700, 60, 350, 256
    report = {1, 20, 40, 60, 120, 240, 350, 450, 600, 700}

    model, opt = build(total, warmup)
    model.init_from_data(train)
    print(f"session 1: steps 1..{half} (lr warm-up from 0, then cosine)")
    run_session(model, opt, train, val, 0, half, batch, rng, report)

    ckpt_dir = tempfile.mkdtemp()
    w_path = os.path.join(ckpt_dir, "flow.safetensors")
    o_path = os.path.join(ckpt_dir, "adam.safetensors")
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    saved_val = nll(model, mx.array(val)).item()
    print(f"checkpoint written at step {half}: val_nll {saved_val:+.4f}")

    del model, opt
    model, opt = build(total, warmup)
    model.load_weights(w_path)
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    resumed_val = nll(model, mx.array(val)).item()
    print(f"session 2: resumed at optimizer step {int(opt.step.item())}, val_nll {resumed_val:+.4f}")
    run_session(model, opt, train, val, half, total, batch, rng, report)

    final = nll(model, mx.array(val)).item()
    print(f"final val_nll {final:+.4f}  vs Gaussian baseline {base_val:+.4f}  (gain {base_val - final:.3f} nats)")

    # sanity: the flow density should integrate to ~1 over a grid covering the data
    g = np.linspace(-0.35, 0.35, 281, dtype=np.float32)
    gx, gy = np.meshgrid(g, g)
    pts = mx.array(np.stack([gx.ravel(), gy.ravel()], axis=1))
    dens = mx.exp(model.log_prob(pts))
    mass = (dens.sum() * (g[1] - g[0]) ** 2).item()
    print(f"probability mass on [-0.35,0.35]^2 grid: {mass:.3f}")


if __name__ == "__main__":
    main()
