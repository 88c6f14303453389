"""Warehouse aisle picker: Expected-SARSA with a replay buffer and a target net.

A robot on a 1-D aisle of 12 slots must reach the bin that currently holds an
order (the goal slot changes every episode). Actions: left / stay / right.
Reward: -0.05 per step, +1.0 when it stays on the goal slot (episode ends),
max 30 steps. Q(s, .) is a small MLP on [one-hot position, one-hot goal].
"""
import logging
import random
from collections import deque

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("picker")

N_SLOTS, N_ACT, MAX_STEPS, GAMMA = 12, 3, 30, 0.95


class Aisle:
    def __init__(self, rng):
        self.rng = rng

    def reset(self):
        self.pos = self.rng.randrange(N_SLOTS)
        self.goal = self.rng.randrange(N_SLOTS)
        self.t = 0
        return (self.pos, self.goal)

    def step(self, a):
        self.t += 1
        if a == 1 and self.pos == self.goal:
            return (self.pos, self.goal), 1.0, True
        self.pos = min(N_SLOTS - 1, max(0, self.pos + (a - 1)))
        return (self.pos, self.goal), -0.05, self.t >= MAX_STEPS


def encode(states):
    x = np.zeros((len(states), 2 * N_SLOTS), dtype=np.float32)
    for i, (p, g) in enumerate(states):
        x[i, p] = 1.0
        x[i, N_SLOTS + g] = 1.0
    return mx.array(x)


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2 * N_SLOTS, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_ACT)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


def policy_probs(q, eps):
    # epsilon-greedy distribution over actions, as an array (B, A)
    greedy = mx.argmax(q, axis=-1)
    onehot = (mx.arange(N_ACT)[None, :] == greedy[:, None]).astype(mx.float32)
    return (1.0 - eps) * onehot + eps / N_ACT


def td_loss(model, target, x, a, r, x2, done, eps):
    q = model(x)
    q_sa = mx.take_along_axis(q, a[:, None], axis=-1).squeeze(-1)
    q2 = target(x2)
    pi2 = policy_probs(model(x2), eps)
    v2 = mx.stop_gradient((pi2 * q2).sum(-1))  # expected-SARSA backup
    y = r + GAMMA * (1.0 - done) * v2
    return nn.losses.huber_loss(q_sa, y, reduction="mean")


def main():
    rng = random.Random(7)
    mx.random.seed(7)
    env = Aisle(rng)
    model, target = QNet(), QNet()
    target.update(tree_map(lambda p: p, model.parameters()))
    target.freeze()
    mx.eval(model.parameters(), target.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    loss_and_grad = nn.value_and_grad(model, td_loss)

    buffer = deque(maxlen=4000)
    batch, warmup, sync_every = 64, 500, 200
    episodes, steps_total, checked = 700, 0, False
    returns, successes, losses = [], [], []

    for ep in range(1, episodes + 1):
        eps = max(0.05, 1.0 - ep / 350)
        s = env.reset()
        ep_ret, done = 0.0, False
        while not done:
            if rng.random() < eps:
                a = rng.randrange(N_ACT)
            else:
                a = int(mx.argmax(model(encode([s]))[0]).item())
            s2, r, done = env.step(a)
            buffer.append((s, a, r, s2, float(done and r > 0)))
            ep_ret += r
            s = s2
            steps_total += 1

            if len(buffer) >= warmup:
                idx = rng.sample(range(len(buffer)), batch)
                tr = [buffer[i] for i in idx]
                x = encode([t[0] for t in tr])
                acts = mx.array([t[1] for t in tr])
                rew = mx.array([t[2] for t in tr], dtype=mx.float32)
                x2 = encode([t[3] for t in tr])
                term = mx.array([t[4] for t in tr], dtype=mx.float32)
                loss, grads = loss_and_grad(model, target, x, acts, rew, x2, term, eps)
                if not checked:
                    leaves = tree_flatten(grads)
                    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                    log.info("first update: %d gradient leaves, zero leaves: %s",
                             len(leaves), zero or "none")
                    checked = True
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                losses.append(loss.item())
                if steps_total % sync_every == 0:
                    target.update(tree_map(lambda p: mx.array(p), model.parameters()))
                    mx.eval(target.parameters())
        returns.append(ep_ret)
        successes.append(1.0 if r > 0 else 0.0)

        if ep % 50 == 0:
            window = slice(-50, None)
            log.info(
                "episode %4d  eps %.2f  buffer %4d  mean return %+.3f  delivered %3.0f%%  td huber %.4f",
                ep, eps, len(buffer), np.mean(returns[window]),
                100 * np.mean(successes[window]),
                np.mean(losses[-200:]) if losses else float("nan"),
            )

    # greedy evaluation over every (start, goal) pair
    ok, steps = 0, []
    for p0 in range(N_SLOTS):
        for g in range(N_SLOTS):
            env.pos, env.goal, env.t = p0, g, 0
            s, done = (p0, g), False
            while not done:
                a = int(mx.argmax(model(encode([s]))[0]).item())
                s, r, done = env.step(a)
            if r > 0:
                ok += 1
                steps.append(env.t)
    log.info("greedy eval: %d/%d orders delivered, mean steps %.2f (optimal %.2f)",
             ok, N_SLOTS * N_SLOTS, np.mean(steps) if steps else float("nan"),
             np.mean([abs(p - g) + 1 for p in range(N_SLOTS) for g in range(N_SLOTS)]))


if __name__ == "__main__":
    main()
