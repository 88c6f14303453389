# DQN on a small corridor environment (one-hot states), replay buffer + target net.
# Adam optimiser; we evaluate the model and the loss after every gradient step.
import random
import resource
import time
from collections import deque

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_STATES = 10
N_ACTIONS = 2          # 0 = left, 1 = right
MAX_STEPS = 40
GAMMA = 0.95
BATCH = 32
TOTAL_FRAMES = 24000
TARGET_EVERY = 250
LOG_EVERY = 4000

random.seed(0)
np.random.seed(0)
mx.random.seed(0)


class Corridor:
    def reset(self):
        self.pos, self.t = 0, 0
        return self.pos

    def step(self, a):
        self.t += 1
        if random.random() < 0.2:          # slippery floor: 20% of moves go the other way
            a = 1 - a
        self.pos = min(N_STATES - 1, self.pos + 1) if a == 1 else max(0, self.pos - 1)
        if self.pos == N_STATES - 1:
            return self.pos, 1.0, True, False
        return self.pos, -0.01 + random.gauss(0.0, 0.01), False, self.t >= MAX_STEPS


def one_hot(idx):
    out = np.zeros((len(idx), N_STATES), dtype=np.float32)
    out[np.arange(len(idx)), idx] = 1.0
    return out


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_STATES, 32)
        self.l2 = nn.Linear(32, N_ACTIONS)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


model = QNet()
target_model = QNet()
target_model.update(model.parameters())
mx.eval(model.parameters(), target_model.parameters())
optimizer = optim.Adam(learning_rate=1e-3)


def td_loss(m, s, a, target):
    q = m(s)
    q_sa = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    return nn.losses.huber_loss(q_sa, target, reduction="mean")


loss_and_grad_fn = nn.value_and_grad(model, td_loss)


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


env = Corridor()
buffer = deque(maxlen=20000)
state = env.reset()
ep_ret, returns, losses = 0.0, deque(maxlen=30), deque(maxlen=200)
episodes = 0
t0 = time.time()

for frame in range(1, TOTAL_FRAMES + 1):
    eps = max(0.05, 1.0 - frame / 8000)
    if random.random() < eps:
        action = random.randrange(N_ACTIONS)
    else:
        q = model(mx.array(one_hot([state])))
        action = int(mx.argmax(q, axis=1).item())
    nxt, r, terminated, truncated = env.step(action)
    buffer.append((state, action, r, nxt, float(terminated)))
    ep_ret += r
    state = nxt
    if terminated or truncated:
        returns.append(ep_ret)
        episodes += 1
        ep_ret = 0.0
        state = env.reset()

    if len(buffer) >= 500:
        batch = random.sample(buffer, BATCH)
        s, a, rw, s2, d = map(np.array, zip(*batch))
        s_mx = mx.array(one_hot(s))
        s2_mx = mx.array(one_hot(s2))
        next_q = mx.max(target_model(s2_mx), axis=1)
        targets = mx.array(rw, dtype=mx.float32) + GAMMA * next_q * (1.0 - mx.array(d, dtype=mx.float32))
        loss, grads = loss_and_grad_fn(model, s_mx, mx.array(a.astype(np.int32)), targets)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), loss, optimizer.state)
        losses.append(loss.item())

    if frame % TARGET_EVERY == 0:
        target_model.update(model.parameters())

    if frame % LOG_EVERY == 0:
        avg_ret = np.mean(returns) if returns else float("nan")
        avg_loss = np.mean(losses) if losses else float("nan")
        print(f"frame {frame:6d} | episodes {episodes:5d} | avg_return {avg_ret:+.3f} | "
              f"td_loss {avg_loss:.2e} | eps {eps:.2f} | rss {rss_mb():7.1f} MB | "
              f"{time.time() - t0:5.1f}s", flush=True)

greedy = [int(mx.argmax(model(mx.array(one_hot([i]))), axis=1).item()) for i in range(N_STATES - 1)]
print("greedy actions per state:", greedy)
