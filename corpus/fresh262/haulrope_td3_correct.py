"""Chairlift haul-rope speed controller trained with TD3.

A detachable chairlift must hold its rope at the nominal speed while the
passenger load on the line changes from run to run.  The drive command is a
continuous value in [-1, 1].  We train a deterministic actor with twin critics,
target policy smoothing, delayed actor updates and Polyak-averaged targets.
"""
import copy
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

DT = 0.2
HORIZON = 50
V_NOM = 1.0


class RopeDrive:
    """v' = v + dt * (2 a + 0.6 - 0.8 load - 0.5 v) + noise."""

    def __init__(self, rng):
        self.rng = rng

    def reset(self, load=None, v0=None):
        self.load = self.rng.uniform(0.0, 1.0) if load is None else load
        self.v = self.rng.uniform(0.0, 1.5) if v0 is None else v0
        self.t = 0
        return self.obs()

    def obs(self):
        return np.array([self.v - V_NOM, self.load, self.v], dtype=np.float32)

    def step(self, a):
        a = float(np.clip(a, -1.0, 1.0))
        dv = 2.0 * a + 0.6 - 0.8 * self.load - 0.5 * self.v
        self.v = self.v + DT * dv + self.rng.normal(0.0, 0.02)
        self.t += 1
        err = self.v - V_NOM
        r = -(err ** 2) - 0.05 * a * a
        return self.obs(), r, self.t >= HORIZON


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, s):
        h = nn.relu(self.l1(s))
        h = nn.relu(self.l2(h))
        return mx.tanh(self.out(h))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, s, a):
        h = nn.relu(self.l1(mx.concatenate([s, a], axis=-1)))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)


class TwinCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.q1 = Critic()
        self.q2 = Critic()

    def __call__(self, s, a):
        return self.q1(s, a), self.q2(s, a)


class Replay:
    def __init__(self, cap):
        self.s = np.zeros((cap, 3), np.float32)
        self.a = np.zeros((cap, 1), np.float32)
        self.r = np.zeros((cap,), np.float32)
        self.s2 = np.zeros((cap, 3), np.float32)
        self.d = np.zeros((cap,), np.float32)
        self.cap, self.n, self.i = cap, 0, 0

    def add(self, s, a, r, s2, d):
        j = self.i
        self.s[j], self.a[j], self.r[j], self.s2[j], self.d[j] = s, a, r, s2, d
        self.i = (self.i + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self, rng, b):
        idx = rng.integers(0, self.n, size=b)
        return (mx.array(self.s[idx]), mx.array(self.a[idx]), mx.array(self.r[idx]),
                mx.array(self.s2[idx]), mx.array(self.d[idx]))


def polyak(target, online, tau):
    target.update(tree_map(lambda t, o: (1.0 - tau) * t + tau * o,
                           target.parameters(), online.parameters()))


GAMMA = 0.95
TAU = 0.01
POLICY_NOISE = 0.2
NOISE_CLIP = 0.5
EXPL_NOISE = 0.1
POLICY_DELAY = 2
BATCH = 128
WARMUP_STEPS = 600
TOTAL_STEPS = 3000

actor = Actor()
critic = TwinCritic()
actor_t = copy.deepcopy(actor)
critic_t = copy.deepcopy(critic)
mx.eval(actor.parameters(), critic.parameters(), actor_t.parameters(), critic_t.parameters())

opt_actor = optim.Adam(learning_rate=1e-3)
opt_critic = optim.Adam(learning_rate=1e-3)


def critic_loss_fn(critic, s, a, y):
    q1, q2 = critic(s, a)
    return nn.losses.mse_loss(q1, y) + nn.losses.mse_loss(q2, y)


def actor_loss_fn(actor, s):
    q1, _ = critic(s, actor(s))
    return -mx.mean(q1)


critic_vg = nn.value_and_grad(critic, critic_loss_fn)
actor_vg = nn.value_and_grad(actor, actor_loss_fn)


def td_target(r, s2, d):
    noise = mx.clip(POLICY_NOISE * mx.random.normal((s2.shape[0], 1)), -NOISE_CLIP, NOISE_CLIP)
    a2 = mx.clip(actor_t(s2) + noise, -1.0, 1.0)
    q1t, q2t = critic_t(s2, a2)
    return mx.stop_gradient(r + GAMMA * (1.0 - d) * mx.minimum(q1t, q2t))


def evaluate(policy_fn, n=10):
    rng = np.random.default_rng(1234)
    env = RopeDrive(rng)
    total = 0.0
    for _ in range(n):
        s = env.reset()
        done = False
        while not done:
            s, r, done = env.step(policy_fn(s))
            total += r
    return total / n


def greedy(s):
    return float(actor(mx.array(s[None]))[0, 0])


def p_controller(s):
    return float(np.clip(-1.5 * s[0], -1, 1))


base_idle = evaluate(lambda s: 0.0)
base_p = evaluate(p_controller)
print(f"baseline return  idle drive {base_idle:8.3f}   P-controller {base_p:8.3f}")

rng = np.random.default_rng(SEED)
env = RopeDrive(rng)
buf = Replay(20000)
s = env.reset()
ep_ret, ep_rets = 0.0, []
c_hist, a_hist, q_hist = [], [], []
n_updates = 0
t0 = time.time()

for step in range(1, TOTAL_STEPS + 1):
    if step <= WARMUP_STEPS:
        a = rng.uniform(-1.0, 1.0)
    else:
        a = greedy(s) + rng.normal(0.0, EXPL_NOISE)
        a = float(np.clip(a, -1.0, 1.0))
    s2, r, done = env.step(a)
    buf.add(s, a, r, s2, float(done))
    s = s2
    ep_ret += r
    if done:
        ep_rets.append(ep_ret)
        ep_ret = 0.0
        s = env.reset()

    if step > WARMUP_STEPS:
        bs, ba, br, bs2, bd = buf.sample(rng, BATCH)
        y = td_target(br, bs2, bd)
        closs, cg = critic_vg(critic, bs, ba, y)
        opt_critic.update(critic, cg)
        mx.eval(critic.parameters(), opt_critic.state)
        c_hist.append(closs.item())
        n_updates += 1
        if n_updates % POLICY_DELAY == 0:
            aloss, ag = actor_vg(actor, bs)
            opt_actor.update(actor, ag)
            polyak(actor_t, actor, TAU)
            polyak(critic_t, critic, TAU)
            mx.eval(actor.parameters(), opt_actor.state,
                    actor_t.parameters(), critic_t.parameters())
            a_hist.append(aloss.item())
            q_hist.append(-aloss.item())

    if step % 300 == 0:
        recent = np.mean(ep_rets[-10:]) if ep_rets else float("nan")
        if step <= WARMUP_STEPS:
            print(f"step {step:5d}  collecting random transitions  buffer {buf.n:5d}  "
                  f"episode return(avg10) {recent:8.3f}")
        else:
            print(f"step {step:5d}  critic_loss {np.mean(c_hist[-150:]):.5f}  "
                  f"actor_loss {np.mean(a_hist[-75:]):8.4f}  Q(s,pi(s)) {np.mean(q_hist[-75:]):8.4f}  "
                  f"episode return(avg10) {recent:8.3f}")
    if step % 1200 == 0 and step > WARMUP_STEPS:
        print(f"  eval @ {step}: greedy return {evaluate(greedy):8.3f}   "
              f"(idle {base_idle:.3f}, P-controller {base_p:.3f})")

final = evaluate(greedy, n=20)
print(f"final greedy return over 20 runs {final:8.3f}  vs P-controller {base_p:8.3f}  vs idle {base_idle:8.3f}")
rng_t = np.random.default_rng(99)
for load in (0.1, 0.5, 0.9):
    e = RopeDrive(rng_t)
    st = e.reset(load=load, v0=0.5)
    for _ in range(HORIZON):
        st, _, _ = e.step(greedy(st))
    print(f"load {load:.1f}: rope speed after {HORIZON} ticks {e.v:.3f} (nominal {V_NOM})")
print(f"critic updates {n_updates}, actor updates {len(a_hist)}, wall {time.time() - t0:.1f}s")
