"""Hurling puck-out practice: learn how hard to strike the sliotar.

A goalkeeper strikes the puck-out towards a team-mate standing D metres away
with a wind blowing along the pitch (+ = tail wind).  The policy picks a strike
power; a made-up flight law turns power + wind into carry distance.  Reward is
minus the squared miss (in units of 10 m), so higher is better and 0 is
perfect.  Policy-gradient (REINFORCE with a batch-mean baseline), Gaussian
policy with a learned log-std, compiled update step, RMSprop.  Three seeds are
swept; each seed restarts the update counter.
"""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BATCH = 512
UPDATES = 240
LOG_2PI = 1.8378770664093453


def carry(power, wind):
    # metres travelled; power roughly in [0, 4]
    return 22.0 * power + 1.8 * wind * power - 3.0


def sample_context(n):
    dist = mx.random.uniform(25.0, 75.0, (n,))
    wind = mx.random.uniform(-5.0, 5.0, (n,))
    ctx = mx.stack([(dist - 50.0) / 15.0, wind / 3.0], axis=1)
    return ctx, dist, wind


class Striker(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.mean_head = nn.Linear(32, 1)
        self.log_std = mx.array([0.0])

    def __call__(self, ctx):
        m = 2.0 + self.mean_head(self.body(ctx)).squeeze(-1)
        return m, self.log_std


def pg_loss(model, ctx, eps, dist, wind):
    m, log_std = model(ctx)
    power = mx.stop_gradient(m + mx.exp(log_std) * eps)
    miss = (carry(power, wind) - dist) / 10.0
    reward = -(miss ** 2)
    adv = (reward - reward.mean()) / (reward.std() + 1e-6)
    logp = -0.5 * ((power - m) / mx.exp(log_std)) ** 2 - log_std - 0.5 * LOG_2PI
    return -mx.mean(logp * adv), (reward.mean(), mx.abs(miss).mean() * 10.0)


def run_seed(seed):
    mx.random.seed(seed)
    model = Striker()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=3e-3)
    opt.init(model.trainable_parameters())
    grad_fn = nn.value_and_grad(model, pg_loss)

    ctx, dist, wind = sample_context(BATCH)
    _, g = grad_fn(model, ctx, mx.random.normal((BATCH,)), dist, wind)
    zero = [k for k, v in tree_flatten(g) if mx.abs(v).max().item() == 0.0]
    print(f"[seed {seed}] zero-grad tensors at init: {zero if zero else 'none'}")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(ctx, eps, dist, wind):
        (loss, aux), grads = grad_fn(model, ctx, eps, dist, wind)
        opt.update(model, grads)
        return mx.stack([loss, aux[0], aux[1]])

    hist = []
    for u in range(1, UPDATES + 1):
        ctx, dist, wind = sample_context(BATCH)
        eps = mx.random.normal((BATCH,))
        stats = step(ctx, eps, dist, wind)
        mx.eval(state, stats)
        loss, rew, miss_m = stats[0], stats[1], stats[2]
        hist.append((rew.item(), miss_m.item()))
        if u % 30 == 0 or u == 1:
            done = int(20 * u / UPDATES)
            bar = "#" * done + " " * (20 - done)
            print(f"seed {seed} |{bar}| {u:3d}/{UPDATES} "
                  f"[pg {loss.item():+.3f} reward {rew.item():8.3f} "
                  f"miss {miss_m.item():5.1f}m sigma {mx.exp(model.log_std).item():.3f}]")
    # greedy evaluation (no exploration noise)
    ctx, dist, wind = sample_context(4000)
    m, _ = model(ctx)
    greedy_miss = mx.abs(carry(m, wind) - dist).mean().item()
    first = sum(r for r, _ in hist[:20]) / 20
    last = sum(r for r, _ in hist[-20:]) / 20
    return first, last, greedy_miss, mx.exp(model.log_std).item()


# reference: a keeper who always strikes at the middle power 2.0
ctx, dist, wind = sample_context(4000)
fixed_miss = mx.abs(carry(mx.full(dist.shape, 2.0), wind) - dist).mean().item()

rows = []
for seed in (31, 32, 33):
    rows.append((seed,) + run_seed(seed))

print("\nseed | reward first20 | reward last20 | greedy miss (m) | fixed-power miss (m) | sigma")
for seed, f, l, gm, s in rows:
    print(f"{seed:4d} | {f:14.3f} | {l:13.3f} | {gm:15.2f} | {fixed_miss:20.2f} | {s:.3f}")
