# DQN on a small continuing "ring" task. The environment never terminates, but a
# TimeLimit wrapper truncates every episode after 10 steps and restarts at a random
# cell. Transitions go into a replay buffer; a target network is synced every 25
# updates. Q* is computed by value iteration so we can see how far the net is.
import logging
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s dqn: %(message)s")
log = logging.getLogger()

N, A, GAMMA, TIME_LIMIT = 12, 3, 0.95, 10
REWARD = (1.0 + np.cos(2 * np.pi * np.arange(N) / N)).astype(np.float32)
random.seed(0); np.random.seed(0); mx.random.seed(0)


class RingEnv:
    """move left / stay / right on a ring; reward depends on the cell you land on"""

    def reset(self):
        self.s, self.t = random.randrange(N), 0
        return self.s

    def step(self, a):
        self.s = (self.s + (a - 1)) % N
        self.t += 1
        terminated = False                     # the task itself never ends
        truncated = self.t >= TIME_LIMIT       # TimeLimit wrapper
        return self.s, float(REWARD[self.s]), terminated, truncated


def q_star():
    q = np.zeros((N, A))
    for _ in range(2000):
        v = q.max(1)
        for s in range(N):
            for a in range(A):
                s2 = (s + a - 1) % N
                q[s, a] = REWARD[s2] + GAMMA * v[s2]
    return q


QSTAR = q_star()
EYE = np.eye(N, dtype=np.float32)


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, A)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


q, q_target = QNet(), QNet()
q_target.update(q.parameters())
opt = optim.Adam(learning_rate=2e-3)


def td_loss(model, s, a, r, s2, done, next_max):
    qsa = mx.take_along_axis(model(s), a[:, None], axis=1)[:, 0]
    target = r + GAMMA * (1.0 - done) * next_max
    return nn.losses.mse_loss(qsa, mx.stop_gradient(target), reduction="mean")


vg = nn.value_and_grad(q, td_loss)
buf, CAP = [], 5000
env = RingEnv()
s = env.reset()
eps, losses, t0 = 0.3, [], time.time()
log.info("Q* range %.2f..%.2f (gamma=%.2f, time limit %d)", QSTAR.min(), QSTAR.max(), GAMMA, TIME_LIMIT)

for step in range(1, 6001):
    if random.random() < eps:
        a = random.randrange(A)
    else:
        a = int(mx.argmax(q(mx.array(EYE[s][None])), axis=1).item())
    s2, r, terminated, truncated = env.step(a)
    done = terminated or truncated
    buf.append((s, a, r, s2, float(done)))
    if len(buf) > CAP:
        buf.pop(0)
    s = env.reset() if (terminated or truncated) else s2

    if len(buf) >= 256:
        batch = random.sample(buf, 64)
        bs, ba, br, bs2, bd = map(np.array, zip(*batch))
        S, S2 = mx.array(EYE[bs]), mx.array(EYE[bs2])
        next_max = mx.max(q_target(S2), axis=1)
        loss, g = vg(q, S, mx.array(ba.astype(np.int32)), mx.array(br.astype(np.float32)), S2,
                     mx.array(bd.astype(np.float32)), next_max)
        opt.update(q, g)
        mx.eval(q.parameters(), opt.state, loss)
        losses.append(loss.item())
    if step % 25 == 0:
        q_target.update(q.parameters())
    if step % 1000 == 0:
        qall = np.array(q(mx.array(EYE)))
        rmse = float(np.sqrt(((qall - QSTAR) ** 2).mean()))
        greedy_ok = float((qall.argmax(1) == QSTAR.argmax(1)).mean())
        log.info("step=%d td_loss=%.4f q_rmse_vs_qstar=%.3f mean_q=%.2f (q* %.2f) greedy_match=%.2f secs=%.1f",
                 step, float(np.mean(losses[-500:])), rmse, qall.mean(), QSTAR.mean(), greedy_ok, time.time() - t0)
