"""Learn when to open the roof vents of a small greenhouse (tiny DQN).

State: inside-temperature error (deg C), outside temperature, sun load, hour of
day (sin/cos) and the current vent position.  Actions: close a notch, hold, open
a notch.  Reward per 30-minute slot: -|temperature error| - 0.05 per vent move.
Replay buffer grows to its cap and then holds; a target network (a frozen copy,
refreshed every 250 updates) gives the bootstrap values through stop_gradient.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(relativeCreated)7.0fms %(levelname)s %(message)s")
log = logging.getLogger("vents")

SLOTS = 48
TARGET_C = 22.0
GAMMA = 0.95


class Greenhouse:
    def __init__(self, rng):
        self.rng = rng

    def reset(self):
        self.t = 0
        self.outside_mean = self.rng.uniform(15.0, 23.0)
        self.cloud = self.rng.uniform(0.2, 1.0)
        self.inside = self.outside_mean + self.rng.uniform(0.0, 4.0)
        self.vent = 0
        return self.obs()

    def weather(self):
        hour = self.t / 2.0
        outside = self.outside_mean + 4.0 * math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        sun = max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0)) * self.cloud if 6 <= hour <= 18 else 0.0
        return hour, outside, sun

    def obs(self):
        hour, outside, sun = self.weather()
        return np.array([
            (self.inside - TARGET_C) / 5.0, (outside - 15.0) / 8.0, sun,
            math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24),
            self.vent / 4.0,
        ], np.float32)

    def step(self, action):
        move = action - 1
        self.vent = int(np.clip(self.vent + move, 0, 4))
        _, outside, sun = self.weather()
        loss_rate = 0.08 + 0.12 * self.vent
        self.inside += 3.2 * sun - loss_rate * (self.inside - outside) + self.rng.normal(0, 0.3)
        self.t += 1
        reward = -abs(self.inside - TARGET_C) / 5.0 - 0.05 * abs(move)
        return self.obs(), reward, self.t >= SLOTS


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.q = nn.Linear(64, 3)

    def __call__(self, s):
        return self.q(nn.relu(self.l2(nn.relu(self.l1(s)))))


class Replay:
    def __init__(self, cap, dim):
        self.cap, self.n, self.i = cap, 0, 0
        self.s = np.zeros((cap, dim), np.float32)
        self.a = np.zeros(cap, np.int32)
        self.r = np.zeros(cap, np.float32)
        self.s2 = np.zeros((cap, dim), np.float32)
        self.done = np.zeros(cap, np.float32)

    def add(self, s, a, r, s2, d):
        j = self.i
        self.s[j], self.a[j], self.r[j], self.s2[j], self.done[j] = s, a, r, s2, d
        self.i = (self.i + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self, rng, k):
        idx = rng.integers(0, self.n, size=k)
        return (mx.array(self.s[idx]), mx.array(self.a[idx]), mx.array(self.r[idx]),
                mx.array(self.s2[idx]), mx.array(self.done[idx]))


def td_loss(qnet, target, s, a, r, s2, done):
    q = mx.take_along_axis(qnet(s), a[:, None], axis=1).squeeze(1)
    boot = mx.stop_gradient(mx.max(target(s2), axis=1))
    y = r + GAMMA * (1.0 - done) * boot
    return nn.losses.huber_loss(q, y, reduction="mean")


def greedy_return(qnet, seed, episodes=12, fixed=None):
    env = Greenhouse(np.random.default_rng(seed))
    total = 0.0
    for _ in range(episodes):
        s, done = env.reset(), False
        while not done:
            if fixed is not None:
                a = fixed
            else:
                a = int(mx.argmax(qnet(mx.array(s[None])), axis=1).item())
            s, r, done = env.step(a)
            total += r
    return total / episodes


def main():
    rng = np.random.default_rng(77)
    mx.random.seed(77)
    env = Greenhouse(rng)
    qnet, target = QNet(), QNet()
    target.update(tree_map(lambda p: p, qnet.parameters()))
    mx.eval(qnet.parameters(), target.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    grad_fn = nn.value_and_grad(qnet, td_loss)
    buf = Replay(cap=6000, dim=6)

    log.info("baselines per day: vents always shut %.2f, vents opened a notch every slot (wide open after 2 h) %.2f, untrained greedy %.2f",
             greedy_return(None, 999, fixed=0), greedy_return(None, 999, fixed=2), greedy_return(qnet, 999))
    episodes, updates, eps = 260, 0, 1.0
    recent, losses = [], []
    t0 = time.perf_counter()
    for ep in range(1, episodes + 1):
        s, done, ret = env.reset(), False, 0.0
        while not done:
            if rng.random() < eps:
                a = int(rng.integers(3))
            else:
                a = int(mx.argmax(qnet(mx.array(s[None])), axis=1).item())
            s2, r, done = env.step(a)
            buf.add(s, a, r, s2, float(done))
            s, ret = s2, ret + r
            if buf.n >= 500:
                loss, grads = grad_fn(qnet, target, *buf.sample(rng, 64))
                if updates == 0:
                    flat = tree_flatten(grads)
                    nz = sum(1 for _, g in flat if mx.any(g != 0).item())
                    log.info("first update: %d/%d gradient leaves non-zero", nz, len(flat))
                opt.update(qnet, grads)
                mx.eval(qnet.parameters(), opt.state, loss)
                losses.append(loss.item())
                updates += 1
                if updates % 250 == 0:
                    target.update(tree_map(lambda p: p, qnet.parameters()))
                    mx.eval(target.parameters())
        eps = max(0.05, eps * 0.985)
        recent.append(ret)
        if ep % 20 == 0:
            td = float(np.mean(losses[-300:])) if losses else float("nan")
            log.info("episode %d: eps %.2f, replay %d/%d, updates %d, td-loss %.4f, "
                     "mean return (last 20, exploring) %.2f, greedy return %.2f, %.1fs",
                     ep, eps, buf.n, buf.cap, updates, td, float(np.mean(recent[-20:])),
                     greedy_return(qnet, 999), time.perf_counter() - t0)
    log.info("done: greedy return per day %.2f (higher is better, 0 is perfect)", greedy_return(qnet, 999))


if __name__ == "__main__":
    main()
