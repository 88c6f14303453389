"""Night-shift snowmaking: a dueling double DQN with 3-step returns.

Each night (24 hourly steps) a fan gun can run off / low / high.  Snow only forms
when the wet-bulb temperature is low enough; above about -2 C the gun makes
slush, which costs water and earns a penalty.  The piste has a snow deficit that
must be filled; snow made beyond the deficit is wasted water.
Training runs in two sessions: session 1 saves a checkpoint, session 2 rebuilds
the networks, loads the checkpoint and continues (fresh Adam state, lr warm-up
from 0 again).
"""
import os

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 3
np.random.seed(SEED)
mx.random.seed(SEED)

N_ENV = 16
HOURS = 24
FLOW = np.array([0.0, 0.5, 1.0], dtype=np.float32)
GAMMA = 0.9
NSTEP = 3


class Slopes:
    def __init__(self, rng, n):
        self.rng, self.n = rng, n

    def reset(self):
        self.h = np.zeros(self.n, dtype=np.int64)
        self.base = self.rng.uniform(-9.0, 1.0, self.n)
        self.amp = self.rng.uniform(2.0, 5.0, self.n)
        self.deficit = self.rng.uniform(2.0, 8.0, self.n)
        return self.obs()

    def wetbulb(self):
        return self.base - self.amp * np.sin(np.pi * self.h / HOURS) + self.rng.normal(0, 0.5, self.n)

    def obs(self):
        self.wb = self.wetbulb()
        ang = 2 * np.pi * self.h / HOURS
        return np.stack([self.wb / 5.0, np.sin(ang), np.cos(ang), self.deficit / 5.0], 1).astype(np.float32)

    def step(self, a):
        flow = FLOW[a]
        eff = np.clip((-2.0 - self.wb) / 4.0, 0.0, 1.0)
        snow = flow * eff
        useful = np.minimum(snow, self.deficit)
        self.deficit = self.deficit - useful
        slush = flow * (self.wb > -2.0)
        r = useful - 0.15 * flow - 0.5 * slush
        self.h += 1
        done = self.h >= HOURS
        return self.obs(), r.astype(np.float32), done


class DuelingQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU())
        self.value = nn.Linear(64, 1)
        self.adv = nn.Linear(64, 3)

    def __call__(self, x):
        h = self.trunk(x)
        a = self.adv(h)
        return self.value(h) + a - mx.mean(a, axis=-1, keepdims=True)


def make_opt():
    warm = optim.linear_schedule(0.0, 1e-3, 150)
    return optim.Adam(learning_rate=optim.join_schedules([warm, lambda step: mx.array(1e-3)], [150]))


def loss_fn(q, s, a, ret, s_n, done_n, q_target):
    q_sa = mx.take_along_axis(q(s), a[:, None], axis=1).squeeze(1)
    a_star = mx.argmax(q(s_n), axis=1)
    q_next = mx.take_along_axis(q_target(s_n), a_star[:, None], axis=1).squeeze(1)
    y = mx.stop_gradient(ret + (GAMMA ** NSTEP) * (1.0 - done_n) * q_next)
    return nn.losses.huber_loss(q_sa, y, reduction="mean")


def evaluate(policy, nights=64):
    env = Slopes(np.random.default_rng(777), nights)
    s = env.reset()
    tot = np.zeros(nights)
    for _ in range(HOURS):
        s, r, _ = env.step(policy(s))
        tot += r
    return float(tot.mean())


def greedy_of(q):
    return lambda s: np.array(mx.argmax(q(mx.array(s)), axis=1))


def threshold_rule(s):
    return np.where(s[:, 0] * 5.0 < -4.0, 2, np.where(s[:, 0] * 5.0 < -2.5, 1, 0)) * (s[:, 3] > 0.05)


b_rand = evaluate(lambda s: np.random.default_rng(5).integers(0, 3, len(s)))
b_high = evaluate(lambda s: np.full(len(s), 2))
b_rule = evaluate(threshold_rule)
print(f"baselines per night: random {b_rand:.3f}  always-high {b_high:.3f}  wet-bulb rule {b_rule:.3f}")

rng = np.random.default_rng(SEED)
CAP = 30000
buf = {k: np.zeros((CAP,) + sh, dt) for k, sh, dt in [
    ("s", (4,), np.float32), ("a", (), np.int32), ("ret", (), np.float32),
    ("s_n", (4,), np.float32), ("done_n", (), np.float32)]}
fill = {"n": 0, "i": 0}


def push(s, a, ret, s_n, d):
    for j in range(len(a)):
        i = fill["i"]
        buf["s"][i], buf["a"][i], buf["ret"][i], buf["s_n"][i], buf["done_n"][i] = s[j], a[j], ret[j], s_n[j], d[j]
        fill["i"] = (i + 1) % CAP
        fill["n"] = min(fill["n"] + 1, CAP)


def run_session(q, q_target, opt, it_start, it_end, tag):
    env = Slopes(rng, N_ENV)
    s = env.reset()
    traj = []
    grad_fn = nn.value_and_grad(q, loss_fn)
    losses = []
    for it in range(it_start, it_end):
        eps = max(0.05, 1.0 - it / 600.0)
        greedy = np.array(mx.argmax(q(mx.array(s)), axis=1))
        a = np.where(rng.random(N_ENV) < eps, rng.integers(0, 3, N_ENV), greedy).astype(np.int32)
        s2, r, done = env.step(a)
        traj.append((s, a, r))
        if len(traj) >= NSTEP or done.all():
            s0, a0, _ = traj[0]
            ret = sum((GAMMA ** k) * traj[k][2] for k in range(len(traj)))
            push(s0, a0, ret, s2, done.astype(np.float32))
            traj.pop(0)
        s = s2
        if done.all():
            while traj:
                s0, a0, _ = traj[0]
                ret = sum((GAMMA ** k) * traj[k][2] for k in range(len(traj)))
                push(s0, a0, ret, s2, np.ones(N_ENV, np.float32))
                traj.pop(0)
            s = env.reset()
        if fill["n"] >= 512:
            idx = rng.integers(0, fill["n"], 128)
            batch = [mx.array(buf[k][idx]) for k in ("s", "a", "ret", "s_n", "done_n")]
            loss, g = grad_fn(q, *batch, q_target)
            opt.update(q, g)
            mx.eval(q.parameters(), opt.state)
            losses.append(loss.item())
        if it % 200 == 0 and it > 0:
            q_target.update(q.parameters())
            mx.eval(q_target.parameters())
        if (it + 1) % 200 == 0:
            lr = opt.learning_rate.item()
            ml = np.mean(losses[-200:]) if losses else float("nan")
            print(f"[{tag}] iter {it + 1:5d}  eps {eps:.2f}  lr {lr:.2e}  td_loss {ml:.4f}  "
                  f"eval/night {evaluate(greedy_of(q)):.3f}")


q = DuelingQ()
q_target = DuelingQ()
q_target.update(q.parameters())
mx.eval(q.parameters(), q_target.parameters())
print(f"untrained eval/night {evaluate(greedy_of(q)):.3f}")
opt = make_opt()
run_session(q, q_target, opt, 0, 1000, "session1")

ckpt = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snowgun_ckpt.safetensors")
q.save_weights(ckpt)
print(f"checkpoint written after 1000 iterations; eval/night {evaluate(greedy_of(q)):.3f}")

q2 = DuelingQ()
q2.load_weights(ckpt)
q2_target = DuelingQ()
q2_target.load_weights(ckpt)
mx.eval(q2.parameters(), q2_target.parameters())
os.remove(ckpt)
print(f"resumed from checkpoint; eval/night {evaluate(greedy_of(q2)):.3f}")
opt2 = make_opt()
run_session(q2, q2_target, opt2, 1000, 1800, "session2")

final = evaluate(greedy_of(q2), nights=256)
print(f"final eval per night {final:.3f}  (random {b_rand:.3f}, always-high {b_high:.3f}, wet-bulb rule {b_rule:.3f})")
