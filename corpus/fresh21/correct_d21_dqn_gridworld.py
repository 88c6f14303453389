"""DQN with experience replay and a periodically synced target network on a 6x6 gridworld.

The TD loss is NOT expected to fall monotonically: it rises while value
estimates propagate back from the goal, then settles. Success is the greedy
policy's return / steps-to-goal, printed in key=value lines.
"""
import random
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SIZE = 6
GOAL = (SIZE - 1, SIZE - 1)
PITS = {(2, 2), (3, 1), (1, 4), (4, 3)}
ACTIONS = [(0, 1), (1, 0), (0, -1), (-1, 0)]


def encode(pos):
    v = np.zeros(SIZE * SIZE, dtype=np.float32)
    v[pos[0] * SIZE + pos[1]] = 1.0
    return v


def env_step(pos, a):
    r, c = pos[0] + ACTIONS[a][0], pos[1] + ACTIONS[a][1]
    r, c = min(max(r, 0), SIZE - 1), min(max(c, 0), SIZE - 1)
    if (r, c) == GOAL:
        return (r, c), 1.0, True
    if (r, c) in PITS:
        return (r, c), -1.0, True
    return (r, c), -0.01, False


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(SIZE * SIZE, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.l1(x)))))


def td_loss(q, s, a, target):
    qa = mx.take_along_axis(q(s), a[:, None], axis=1).squeeze(1)
    return nn.losses.huber_loss(qa, target, reduction="mean")


def greedy_eval(q):
    pos, ret = (0, 0), 0.0
    for t in range(40):
        a = int(mx.argmax(q(mx.array(encode(pos)))).item())
        pos, r, done = env_step(pos, a)
        ret += r
        if done:
            return ret, t + 1
    return ret, 40


def main():
    random.seed(5)
    np.random.seed(5)
    mx.random.seed(5)
    q, q_target = QNet(), QNet()
    mx.eval(q.parameters())
    q_target.update(q.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    grad_fn = nn.value_and_grad(q, td_loss)
    buf = deque(maxlen=5000)
    gamma, eps, total_steps, losses = 0.95, 1.0, 0, []
    for episode in range(1, 301):
        pos, done, t = (0, 0), False, 0
        while not done and t < 60:
            if random.random() < eps:
                a = random.randrange(4)
            else:
                a = int(mx.argmax(q(mx.array(encode(pos)))).item())
            nxt, r, done = env_step(pos, a)
            buf.append((encode(pos), a, r, encode(nxt), float(done)))
            pos, t = nxt, t + 1
            total_steps += 1
            if len(buf) >= 256 and total_steps % 2 == 0:
                batch = random.sample(buf, 64)
                s, a_, r_, s2, d = (np.array(x) for x in zip(*batch))
                s2_q = q_target(mx.array(s2)).max(axis=1)
                target = mx.array(r_, dtype=mx.float32) + gamma * (1 - mx.array(d, dtype=mx.float32)) * s2_q
                loss, grads = grad_fn(q, mx.array(s), mx.array(a_), mx.stop_gradient(target))
                opt.update(q, grads)
                mx.eval(q.parameters(), opt.state, loss)
                losses.append(loss.item())
            if total_steps % 200 == 0:
                q_target.update(q.parameters())
                mx.eval(q_target.parameters())
        eps = max(0.05, eps * 0.985)
        if episode % 20 == 0:
            ret, steps = greedy_eval(q)
            td = np.mean(losses[-200:]) if losses else float("nan")
            print(f"episode={episode} eps={eps:.3f} td_loss={td:.5f} greedy_return={ret:.2f} greedy_steps={steps} buffer={len(buf)}")


if __name__ == "__main__":
    main()
