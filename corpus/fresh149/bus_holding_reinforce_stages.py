"""Bus-bunching holding control learned with REINFORCE.

At a timing-point stop the controller chooses how long to hold the bus
(0 / 20 / 40 / 60 / 80 s) from what the driver's tablet shows: the gap to the
bus ahead, the gap to the bus behind, the scheduled headway and the number of
passengers still boarding.  The reward is minus the squared deviation of the
resulting downstream headways from the schedule (in minutes^2), plus a small
penalty for hold time.  Training runs in three stages that get harder
(calm midday -> demand surges -> surges plus a late-running follower), and the
episode counter restarts in every stage.
"""
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

HOLDS = mx.array([0.0, 20.0, 40.0, 60.0, 80.0])  # seconds
BATCH = 64
STAGES = [("calm", 0.0, 0.0, 140), ("surges", 0.6, 0.0, 140), ("surges+late", 0.6, 0.5, 160)]


def draw_situations(key, n, surge, late):
    k1, k2, k3, k4, k5 = mx.random.split(key, 5)
    sched = 6.0 + 4.0 * mx.random.uniform(shape=(n,), key=k1)  # minutes
    ahead = sched * (1.0 + 0.35 * mx.random.normal((n,), key=k2))
    ahead = mx.clip(ahead, 1.0, 20.0)
    behind = sched * (1.0 + 0.35 * mx.random.normal((n,), key=k3)) + late * 2.0
    behind = mx.clip(behind, 1.0, 20.0)
    boarding = mx.random.uniform(shape=(n,), key=k4) * (4.0 + 10.0 * surge)
    noise = 0.25 * mx.random.normal((n,), key=k5)
    return sched, ahead, behind, boarding, noise


def features(sched, ahead, behind, boarding):
    return mx.stack([(ahead - sched) / 3.0, (behind - sched) / 3.0, sched / 10.0 - 0.8,
                     boarding / 10.0], axis=1)


def reward_of(action, sched, ahead, behind, boarding, noise):
    hold_min = HOLDS[action] / 60.0
    dwell = boarding * 0.05  # minutes, passengers board regardless of holding
    new_ahead = ahead + hold_min + dwell
    new_behind = behind - hold_min - dwell
    dev = (new_ahead - sched) ** 2 + (new_behind - sched) ** 2
    return -0.5 * dev - 0.02 * HOLDS[action] / 20.0 + noise


def oracle_reward(sched, ahead, behind, boarding, noise):
    all_r = mx.stack([reward_of(mx.full(sched.shape, a, dtype=mx.int32), sched, ahead, behind,
                                boarding, noise) for a in range(5)], axis=1)
    return all_r.max(axis=1).mean()


class Dispatcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 5)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h)


mx.random.seed(11)
policy = Dispatcher()
opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
state = [policy.state, opt.state, mx.random.state]


def pg_loss(model, x, actions, adv):
    logits = model(x)
    logp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    chosen = mx.take_along_axis(logp, actions[:, None], axis=1).squeeze(1)
    ent = -(mx.exp(logp) * logp).sum(axis=1).mean()
    return -(chosen * adv).mean() - 0.01 * ent, ent


@partial(mx.compile, inputs=state, outputs=state)
def step(x, sched, ahead, behind, boarding, noise, baseline):
    logits = policy(x)
    actions = mx.random.categorical(logits)
    r = reward_of(actions, sched, ahead, behind, boarding, noise)
    adv = mx.stop_gradient(r - baseline)
    (loss, ent), grads = nn.value_and_grad(policy, pg_loss)(policy, x, actions, adv)
    opt.update(policy, grads)
    return r.mean(), ent


key = mx.random.key(2024)
t0 = time.time()
summary = []
for s_idx, (name, surge, late, episodes) in enumerate(STAGES, start=1):
    baseline = mx.array(0.0)
    first = None
    t_stage = time.time()
    # random-policy reference for this stage
    key, k = mx.random.split(key)
    sit = draw_situations(k, 4096, surge, late)
    rand_r = mx.stack([reward_of(mx.full((4096,), a, dtype=mx.int32), *sit) for a in range(5)],
                      axis=1).mean().item()
    orc = oracle_reward(*sit).item()
    run_r = None
    for ep in range(1, episodes + 1):
        key, k = mx.random.split(key)
        sched, ahead, behind, boarding, noise = draw_situations(k, BATCH, surge, late)
        x = features(sched, ahead, behind, boarding)
        r_mean, ent = step(x, sched, ahead, behind, boarding, noise, baseline)
        mx.eval(state, r_mean, ent)
        rv = r_mean.item()
        baseline = mx.array(0.9 * baseline.item() + 0.1 * rv) if ep > 1 else mx.array(rv)
        run_r = rv if run_r is None else 0.9 * run_r + 0.1 * rv
        if first is None:
            first = run_r
        if ep % 20 == 0 or ep == episodes:
            frac = ep / episodes
            bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
            rate = ep / max(time.time() - t_stage, 1e-6)
            sys.stdout.write(f"stage {s_idx}/3 {name:<11}|{bar}| {ep:3d}/{episodes} "
                             f"[r={run_r:7.3f} ent={ent.item():.2f} rand={rand_r:6.2f} "
                             f"best={orc:6.2f} {rate:5.1f}ep/s]\n")
    # greedy evaluation on a fresh held-out draw
    key, k = mx.random.split(key)
    sit = draw_situations(k, 4096, surge, late)
    greedy = mx.argmax(policy(features(*sit[:4])), axis=1)
    g_r = reward_of(greedy, *sit).mean().item()
    g_orc = oracle_reward(*sit).item()
    summary.append((name, rand_r, g_r, g_orc))

print("-" * 60)
print(f"{'stage':<12}{'random':>10}{'greedy':>10}{'oracle':>10}{'gap closed':>12}")
for name, rr, gr, orr in summary:
    closed = 100.0 * (gr - rr) / (orr - rr)
    print(f"{name:<12}{rr:10.3f}{gr:10.3f}{orr:10.3f}{closed:11.1f}%")
print(f"wall {time.time() - t0:.1f}s")
