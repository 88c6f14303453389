"""Mini-golf putting coach.

A Gaussian policy picks a strike vector (aim x/y scaled by stroke power) from the
ball-to-hole offset. The green is sloped and the ball's roll distance grows with the
square of the stroke, so the naive "hit straight at the hole" aim is off.
Trained with REINFORCE (batch-normalised advantages), repeated for 3 seeds.
"""
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SLOPE = mx.array([0.35, -0.25])  # drift per unit of stroke, metres
HOLE_R = 0.25
STEPS = 320
EPISODES = 256


def roll(strike):
    power = mx.sqrt(mx.sum(strike * strike, axis=-1, keepdims=True) + 1e-8)
    return 0.8 * strike * power + SLOPE * power  # where the ball stops, relative to start


def sample_holes(n):
    ang = mx.random.uniform(0, 6.2831853, (n,))
    dist = mx.random.uniform(0.5, 3.0, (n,))
    return mx.stack([dist * mx.cos(ang), dist * mx.sin(ang)], axis=-1)


class Putter(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.mean = nn.Linear(64, 2)
        self.log_std = mx.full((2,), -0.5)

    def __call__(self, offset):
        d = mx.sqrt(mx.sum(offset * offset, axis=-1, keepdims=True))
        feats = mx.concatenate([offset / 3.0, d / 3.0], axis=-1)
        return self.mean(self.body(feats)), self.log_std


def reward_of(stop, offset):
    miss = mx.sqrt(mx.sum((stop - offset) ** 2, axis=-1))
    return -miss, miss


def pg_loss(model, offset, noise):
    mu, log_std = model(offset)
    std = mx.exp(log_std)
    strike = mx.stop_gradient(mu + std * noise)
    r, _ = reward_of(roll(strike), offset)
    adv = mx.stop_gradient((r - r.mean()) / (r.std() + 1e-6))
    logp = mx.sum(-0.5 * ((strike - mu) / std) ** 2 - log_std, axis=-1)
    return -(adv * logp).mean()


def batch_stats(model, offset, noise):
    mu, log_std = model(offset)
    r, miss = reward_of(roll(mu + mx.exp(log_std) * noise), offset)
    return r.mean(), (miss < HOLE_R).mean()


def run_seed(seed):
    mx.random.seed(seed)
    model = Putter()
    mx.eval(model.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, STEPS - 40, 3e-4)], [40])
    opt = optim.Adam(learning_rate=sched)
    opt.init(model.trainable_parameters())
    vg = nn.value_and_grad(model, pg_loss)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(offset, noise):
        r_mean, hit = batch_stats(model, offset, noise)
        loss, grads = vg(model, offset, noise)
        opt.update(model, grads)
        return loss, r_mean, hit

    def greedy(n=2000):
        off = sample_holes(n)
        mu, _ = model(off)
        r, miss = reward_of(roll(mu), off)
        return r.mean().item(), 100.0 * (miss < HOLE_R).mean().item()

    r0, h0 = greedy()
    t0 = time.time()
    for it in range(1, STEPS + 1):
        offset = sample_holes(EPISODES)
        noise = mx.random.normal((EPISODES, 2))
        lr_now = opt.learning_rate.item()
        loss, r_mean, hit = step(offset, noise)
        mx.eval(loss, r_mean, hit, model.state, opt.state)
        if it % 40 == 0 or it == 1:
            frac = it / STEPS
            bar = "#" * int(20 * frac) + "." * (20 - int(20 * frac))
            el = time.time() - t0
            sys.stdout.write(f"seed {seed} |{bar}| {it}/{STEPS} [{el:05.1f}s<{el / frac - el:05.1f}s, "
                             f"lr={lr_now:.1e}, R={r_mean.item():+.3f}, hit={100 * hit.item():.1f}%, "
                             f"std={mx.exp(model.log_std).mean().item():.3f}]\n")
            sys.stdout.flush()
    r1, h1 = greedy()
    return r0, h0, r1, h1


def naive_baseline(n=2000):
    off = sample_holes(n)
    d = mx.sqrt(mx.sum(off * off, axis=-1, keepdims=True))
    strike = off / mx.sqrt(0.8 * d)  # straight at the hole, right power on a flat green
    r, miss = reward_of(roll(strike), off)
    return r.mean().item(), 100.0 * (miss < HOLE_R).mean().item()


results = []
for seed in (11, 12, 13):
    results.append((seed,) + run_seed(seed))

mx.random.seed(99)
nb_r, nb_h = naive_baseline()
print()
print("seed | greedy R before | greedy R after | hit% before | hit% after")
for seed, r0, h0, r1, h1 in results:
    print(f"{seed:>4} | {r0:>15.3f} | {r1:>14.3f} | {h0:>11.1f} | {h1:>10.1f}")
print(f"flat-green aim (reference): R={nb_r:.3f}, hit%={nb_h:.1f}")
