"""Small DQN on a looping conveyor task, gymnasium-style step API.

The conveyor never ends on its own; episodes are only cut by a time limit
(truncated=True).  Every step on the belt pays reward 1, so the true
discounted value of any state is 1 / (1 - gamma).
"""
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

GAMMA = 0.9
N_STATES = 6
TIME_LIMIT = 6
SEED = 3


class Conveyor:
    def __init__(self, n, time_limit):
        self.n = n
        self.time_limit = time_limit

    def reset(self):
        self.t = 0
        self.s = random.randrange(self.n)
        return self.s, {}

    def step(self, action):
        # action 0: stay, action 1: advance; both pay 1, belt wraps around
        self.t += 1
        if action == 1:
            self.s = (self.s + 1) % self.n
        reward = 1.0
        terminated = False
        truncated = self.t >= self.time_limit
        return self.s, reward, terminated, truncated, {}


def one_hot(states):
    out = np.zeros((len(states), N_STATES), dtype=np.float32)
    out[np.arange(len(states)), states] = 1.0
    return mx.array(out)


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_STATES, 32)
        self.l2 = nn.Linear(32, 2)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


class Replay:
    def __init__(self, cap):
        self.cap = cap
        self.data = []

    def push(self, *tr):
        if len(self.data) >= self.cap:
            self.data.pop(0)
        self.data.append(tr)

    def sample(self, k):
        batch = random.sample(self.data, k)
        s, a, r, s2, d = zip(*batch)
        return (one_hot(s), mx.array(a), mx.array(r, dtype=mx.float32),
                one_hot(s2), mx.array(d, dtype=mx.float32))


def main():
    random.seed(SEED)
    np.random.seed(SEED)
    mx.random.seed(SEED)
    env = Conveyor(N_STATES, TIME_LIMIT)
    q = QNet()
    q_tgt = QNet()
    q_tgt.update(q.parameters())
    mx.eval(q.parameters(), q_tgt.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    buf = Replay(4000)

    def td_loss(model, s, a, r, s2, d):
        q_sa = mx.take_along_axis(model(s), a[:, None], axis=1).squeeze(1)
        target = r + GAMMA * (1.0 - d) * mx.stop_gradient(q_tgt(s2).max(axis=1))
        return nn.losses.huber_loss(q_sa, target, reduction="mean")

    grad_fn = nn.value_and_grad(q, td_loss)
    t0 = time.time()
    steps = 0
    losses = []
    for ep in range(1, 601):
        s, _ = env.reset()
        while True:
            eps = max(0.05, 1.0 - ep / 300)
            if random.random() < eps:
                a = random.randrange(2)
            else:
                a = int(q(one_hot([s])).argmax(axis=1).item())
            s2, r, terminated, truncated, _ = env.step(a)
            done = terminated or truncated
            buf.push(s, a, r, s2, done)
            s = s2
            steps += 1
            if len(buf.data) >= 64:
                loss, g = grad_fn(q, *buf.sample(64))
                opt.update(q, g)
                mx.eval(q.parameters(), opt.state, loss)
                losses.append(loss.item())
            if steps % 100 == 0:
                q_tgt.update(q.parameters())
                mx.eval(q_tgt.parameters())
            if terminated or truncated:
                break
        if ep % 100 == 0:
            qv = q(one_hot(list(range(N_STATES)))).max(axis=1)
            print(f"episode {ep:4d} | steps {steps:5d} | td_loss {np.mean(losses[-200:]):.4f}"
                  f" | mean max-Q {qv.mean().item():.3f}")

    qv = q(one_hot(list(range(N_STATES)))).max(axis=1)
    est = qv.mean().item()
    true_v = 1.0 / (1.0 - GAMMA)
    print(f"value check: learned V={est:.3f}  bellman V*={true_v:.3f}  "
          f"rel_err={abs(est - true_v) / true_v:.1%}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
