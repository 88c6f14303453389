"""Density of drone touchdown points around a landing pad (pad units of 4 m, 2-D).

A small RealNVP-style normalizing flow: 6 affine coupling layers with
alternating masks, tanh-bounded log-scales, standard-normal base.  Trained by
maximum likelihood, so the loss is the NLL in nats per touchdown and goes
negative once the density is sharper than a unit Gaussian.  Adam with a
linear warm-up from exactly 0; the step is compiled with its state.
Every line printed is one JSON object.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def touchdowns(n, rng):
    # three approach corridors -> three elongated, curved clusters
    k = rng.integers(0, 3, n)
    ang = np.array([0.3, 2.4, 4.3])[k]
    along = rng.normal(0, 0.55, n)
    across = rng.normal(0, 0.12, n) + 0.25 * along ** 2
    cx, cy = 1.1 * np.cos(ang), 1.1 * np.sin(ang)
    x = cx + along * np.cos(ang + 1.57) - across * np.sin(ang + 1.57)
    y = cy + along * np.sin(ang + 1.57) + across * np.cos(ang + 1.57)
    return (0.25 * np.stack([x, y], 1)).astype(np.float32)  # pad units: 4 m


class Coupling(nn.Module):
    def __init__(self, flip, hidden=48):
        super().__init__()
        self.flip = flip
        self.net = nn.Sequential(
            nn.Linear(1, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, 2),
        )

    def __call__(self, z):
        a, b = (z[:, 1:], z[:, :1]) if self.flip else (z[:, :1], z[:, 1:])
        st = self.net(a)
        log_s = 1.5 * mx.tanh(st[:, :1])
        b = b * mx.exp(log_s) + st[:, 1:]
        out = mx.concatenate([b, a], 1) if self.flip else mx.concatenate([a, b], 1)
        return out, log_s[:, 0]


class Flow(nn.Module):
    def __init__(self, n_layers=6):
        super().__init__()
        self.layers = [Coupling(flip=bool(i % 2)) for i in range(n_layers)]

    def log_prob(self, x):
        z, logdet = x, mx.zeros(x.shape[0])
        for layer in self.layers:
            z, ls = layer(z)
            logdet = logdet + ls
        base = -0.5 * mx.sum(z * z, axis=1) - math.log(2 * math.pi)
        return base + logdet


def nll(model, x):
    return -mx.mean(model.log_prob(x))


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    train = touchdowns(16000, rng)
    valid = touchdowns(4000, rng)
    log = lambda **kw: print(json.dumps(kw), flush=True)

    model = Flow()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

    warm, total, peak = 200, 2000, 2e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, 1e-5)], [warm])
    opt = optim.Adam(learning_rate=sched)

    loss_and_grad = nn.value_and_grad(model, nll)
    xv = mx.array(valid)
    # a single Gaussian fitted to the training points, for reference
    cov = np.cov(train.T)
    gauss_nll = 0.5 * math.log(np.linalg.det(2 * math.pi * math.e * cov))
    log(event="data", train=len(train), valid=len(valid), params=int(n_params),
        gaussian_fit_nll=round(gauss_nll, 4), valid_nll_init=round(nll(model, xv).item(), 4))

    _, g = loss_and_grad(model, mx.array(train[:128]))
    flat = tree_flatten(g)
    nz = sum(float(mx.max(mx.abs(v))) > 0 for _, v in flat)
    log(event="grad_check", leaves=len(flat), nonzero=int(nz))

    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb):
        loss, grads = loss_and_grad(model, xb)
        opt.update(model, grads)
        return loss

    xt = mx.array(train)
    batch = 128
    ema, beta = 0.0, 0.98
    t0 = time.time()
    order = rng.permutation(len(train))
    cursor = 0
    for it in range(1, total + 1):
        if cursor + batch > len(order):
            order, cursor = rng.permutation(len(train)), 0
        idx = mx.array(order[cursor:cursor + batch])
        cursor += batch
        lr_used = float(sched(opt.step))
        loss = step(xt[idx])
        mx.eval(state, loss)
        ema = beta * ema + (1 - beta) * loss.item()
        if it in (1, 50) or it % 250 == 0:
            vl = nll(model, xv).item()
            log(event="train", step=it, lr=float(f"{lr_used:.3g}"),
                train_nll_ema=round(ema / (1 - beta ** it), 4),
                valid_nll=round(vl, 4), valid_bits_per_dim=round(vl / (2 * math.log(2)), 4),
                secs=round(time.time() - t0, 1))
    vl = nll(model, xv).item()
    log(event="done", steps=total, valid_nll=round(vl, 4),
        gain_over_gaussian_nats=round(gauss_nll - vl, 4))


if __name__ == "__main__":
    main()
