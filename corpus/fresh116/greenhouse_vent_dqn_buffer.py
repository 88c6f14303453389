"""Greenhouse vent controller learned with fitted Q-learning (DQN-style).
A replay buffer grows to its cap and then overwrites; a target network is a
stop-gradient copy refreshed every 200 updates. Reports in logfmt."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(3)
mx.random.seed(3)
ACTIONS = np.array([-1.0, 0.0, 1.0])   # close a notch, hold, open a notch
T_LEN, GAMMA = 48, 0.9


class Greenhouse:
    """inside temperature driven by sun and outside air; vent position 0..4"""
    def reset(self, n):
        self.h = np.zeros(n, dtype=np.int64)
        self.temp = rng.uniform(14.0, 30.0, n)
        self.vent = rng.integers(0, 5, n).astype(np.float64)
        self.phase = rng.uniform(0, 2 * np.pi, n)
        return self.obs()

    def obs(self):
        hour = (self.h / T_LEN) * 2 * np.pi + self.phase
        return np.stack([(self.temp - 22.0) / 5.0, self.vent / 4.0 - 0.5,
                         np.sin(hour), np.cos(hour)], 1).astype(np.float32)

    def step(self, a):
        hour = (self.h / T_LEN) * 2 * np.pi + self.phase
        sun = 2.2 * np.maximum(np.sin(hour), 0.0)
        outside = 12.0 + 5.0 * np.sin(hour - 0.6)
        self.vent = np.clip(self.vent + ACTIONS[a], 0, 4)
        self.temp = (self.temp + sun - (0.05 + 0.09 * self.vent) * (self.temp - outside)
                     + rng.normal(0, 0.3, self.temp.shape))
        self.h += 1
        r = -np.abs(self.temp - 22.0) / 5.0 - 0.02 * (ACTIONS[a] != 0)
        return self.obs(), r.astype(np.float32), self.h >= T_LEN


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.out = nn.Linear(4, 64), nn.Linear(64, 64), nn.Linear(64, 3)

    def __call__(self, s):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(s)))))


class Replay:
    def __init__(self, cap):
        self.cap, self.n, self.pos = cap, 0, 0
        self.s = np.zeros((cap, 4), np.float32); self.a = np.zeros(cap, np.int32)
        self.r = np.zeros(cap, np.float32); self.s2 = np.zeros((cap, 4), np.float32)
        self.done = np.zeros(cap, np.float32)

    def add(self, s, a, r, s2, d):
        for i in range(len(a)):
            j = self.pos
            self.s[j], self.a[j], self.r[j], self.s2[j], self.done[j] = s[i], a[i], r[i], s2[i], d[i]
            self.pos = (self.pos + 1) % self.cap
            self.n = min(self.n + 1, self.cap)

    def sample(self, k):
        i = rng.integers(0, self.n, k)
        return (mx.array(self.s[i]), mx.array(self.a[i]), mx.array(self.r[i]),
                mx.array(self.s2[i]), mx.array(self.done[i]))


def td_loss(q, target, s, a, r, s2, done):
    q_sa = mx.take_along_axis(q(s), a[:, None], axis=1).squeeze(1)
    boot = mx.stop_gradient(target(s2).max(axis=1))
    y = r + GAMMA * (1.0 - done) * boot
    return nn.losses.huber_loss(q_sa, y, delta=1.0, reduction="mean")


def rollout_return(policy, episodes=64):
    env = Greenhouse(); s = env.reset(episodes); total = np.zeros(episodes)
    for _ in range(T_LEN):
        s, r, _ = env.step(policy(s)); total += r
    return float(total.mean())


def greedy(q):
    return lambda s: np.array(mx.argmax(q(mx.array(s)), axis=1))


def thermostat(s):                  # hand-written bang-bang rule for reference
    t = s[:, 0] * 5.0 + 22.0
    return np.where(t > 23.0, 2, np.where(t < 21.0, 0, 1))


q, target = QNet(), QNet()
mx.eval(q.parameters())
target.update(tree_map(lambda x: x, q.parameters()))
opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(q, lambda m, *b: td_loss(m, target, *b))
buf = Replay(cap=20000)
envs = Greenhouse(); s = envs.reset(16)
t0 = time.time()
print(f"level=info msg=baselines random_return={rollout_return(lambda s: rng.integers(0, 3, len(s))):.2f} "
      f"thermostat_return={rollout_return(thermostat):.2f} greedy_untrained={rollout_return(greedy(q)):.2f}")

updates, losses = 0, []
for it in range(1, 3601):
    eps = max(0.05, 1.0 - it / 1500)
    greedy_a = np.array(mx.argmax(q(mx.array(s)), axis=1))
    a = np.where(rng.random(len(s)) < eps, rng.integers(0, 3, len(s)), greedy_a).astype(np.int32)
    s2, r, done = envs.step(a)
    buf.add(s, a, r, s2, done.astype(np.float32))
    s = envs.reset(16) if done[0] else s2
    if buf.n < 1000:
        continue
    loss, grads = loss_and_grad(q, *buf.sample(64))
    if updates == 0:
        flat = tree_flatten(grads)
        nz = sum(float(mx.abs(g).max()) > 0 for _, g in flat)
        print(f"level=debug msg=first_update grad_leaves={len(flat)} nonzero_leaves={nz} buffer={buf.n}")
        assert nz == len(flat)
    opt.update(q, grads)
    mx.eval(q.parameters(), opt.state, loss)
    updates += 1
    losses.append(loss.item())
    if updates % 200 == 0:
        target.update(tree_map(lambda x: x, q.parameters()))
        mx.eval(target.parameters())
    if updates % 400 == 0:
        print(f"level=info step={it} updates={updates} eps={eps:.2f} buffer={buf.n}/{buf.cap} "
              f"td_huber={np.mean(losses[-400:]):.4f} greedy_return={rollout_return(greedy(q)):.2f} "
              f"secs={time.time() - t0:.1f}")

print(f"level=info msg=done greedy_return={rollout_return(greedy(q), 256):.2f} "
      f"thermostat_return={rollout_return(thermostat, 256):.2f} buffer={buf.n}/{buf.cap}")
