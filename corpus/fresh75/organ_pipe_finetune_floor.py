"""Organ building: predict the speaking pitch (cents off nominal) of flue pipes.
A base model is fitted silently on workshop A's voicing records, then fine-tuned
with a small learning rate on workshop B (same physics, slightly warmer loft)."""
from functools import partial
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map


def voicing_records(n, seed, loft_temp):
    r = np.random.default_rng(seed)
    length = r.uniform(0.1, 2.4, n)          # speaking length, m
    scale = r.uniform(-3, 3, n)             # halftones off normal scale
    cutup = r.uniform(0.2, 0.35, n)         # mouth cut-up ratio
    wind = r.uniform(55, 95, n)             # wind pressure, mm water
    temp = r.normal(loft_temp, 1.5, n)      # degC
    cents = (-9.0 * scale + 140.0 * (cutup - 0.27) + 0.35 * (wind - 75)
             + 3.0 * (temp - 18.0) + 6.0 * np.log(length) * (cutup - 0.27) * 10
             + r.normal(0, 1.5, n))
    x = np.stack([np.log(length), scale, cutup, wind, temp], 1).astype(np.float32)
    return x, cents.astype(np.float32)


class PitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


class MomentumSGD:
    """Hand-written heavy-ball SGD; its velocity tree lives in self.state."""

    def __init__(self, params, lr, beta=0.9):
        self.lr, self.beta = lr, beta
        self.state = {"v": tree_map(mx.zeros_like, params)}

    def apply(self, params, grads):
        v = tree_map(lambda v, g: self.beta * v + g, self.state["v"], grads)
        self.state["v"] = v
        return tree_map(lambda p, v: p - self.lr * v, params, v)


xa, ya = voicing_records(16000, 1, loft_temp=16.0)
xb, yb = voicing_records(3000, 2, loft_temp=21.0)
xb_val, yb_val = voicing_records(1500, 3, loft_temp=21.0)
mu, sd = xa.mean(0), xa.std(0)
ys = 20.0                                        # cents per model unit
norm = lambda x: mx.array((x - mu) / sd)
XA, YA = norm(xa), mx.array(ya / ys)
XB, YB = norm(xb), mx.array(yb / ys)
XV, YV = norm(xb_val), mx.array(yb_val / ys)

mx.random.seed(0)
model = PitchNet()


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)


def make_step(opt):
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = grad_fn(model, x, y)
        model.update(opt.apply(model.trainable_parameters(), grads))
        return loss

    return step


def rms_cents(x, y):
    return ys * mx.sqrt(loss_fn(model, x, y)).item()


def run_epochs(step, opt, X, Y, epochs, bs, seed):
    r = np.random.default_rng(seed)
    hist = []
    for _ in range(epochs):
        order = mx.array(r.permutation(X.shape[0]))
        tot = 0.0
        nb = X.shape[0] // bs
        for b in range(nb):
            idx = order[b * bs:(b + 1) * bs]
            loss = step(X[idx], Y[idx])
            mx.eval(model.state, opt.state, loss)
            tot += loss.item()
        hist.append(tot / nb)
    return hist


t0 = time.time()
_, g = grad_fn(model, XA[:64], YA[:64])
flat = tree_flatten(g)
print(f"gradient check: {sum(int(mx.any(v != 0).item()) for _, v in flat)}/{len(flat)} leaves non-zero")

# workshop A: base fit, no output until it is done
base_opt = MomentumSGD(model.trainable_parameters(), lr=0.02)
base_hist = run_epochs(make_step(base_opt), base_opt, XA, YA, epochs=10, bs=64, seed=10)
print(f"base model fitted on workshop A in {time.time() - t0:.1f}s: "
      f"last train mse {base_hist[-1]:.4f}, workshop-B rms before fine-tune {rms_cents(XV, YV):.2f} cents")

# workshop B: gentle fine-tune from the base weights
ft_opt = MomentumSGD(model.trainable_parameters(), lr=0.002)
ft_step = make_step(ft_opt)
print("┌───────┬────────────┬──────────────┬────────┐")
print("│ epoch │ train mse  │ val rms (¢)  │ secs   │")
print("├───────┼────────────┼──────────────┼────────┤")
print(f"│ {0:>5} │ {loss_fn(model, XB, YB).item():>10.5f} │ {rms_cents(XV, YV):>12.3f} │ {time.time() - t0:>6.1f} │")
for ep in range(1, 9):
    h = run_epochs(ft_step, ft_opt, XB, YB, epochs=1, bs=32, seed=100 + ep)
    print(f"│ {ep:>5} │ {h[0]:>10.5f} │ {rms_cents(XV, YV):>12.3f} │ {time.time() - t0:>6.1f} │")
print("└───────┴────────────┴──────────────┴────────┘")
print(f"noise floor of the records: 1.50 cents rms; done in {time.time() - t0:.1f}s")
