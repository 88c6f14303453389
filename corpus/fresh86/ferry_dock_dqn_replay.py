# Ferry docking toy: a DQN learns to bring a ferry to the dock on a 1-D channel.
# Replay buffer grows to its cap (2000) and then holds; target net synced every 150 steps.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_POS, ACTIONS, GOAL, MAX_T = 12, 3, 9, 30   # actions: back, hold, forward
rng = np.random.default_rng(7)
mx.random.seed(7)

def obs(p):
    v = np.zeros(N_POS, np.float32); v[p] = 1.0
    return v

def env_step(p, a):
    drift = rng.choice([-1, 0, 0, 0])            # current pushes back sometimes
    q = int(np.clip(p + (a - 1) + drift, 0, N_POS - 1))
    r = 1.0 if q == GOAL else -0.05
    return q, r, q == GOAL

class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_POS, 48)
        self.l2 = nn.Linear(48, ACTIONS)
    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))

class Replay:
    def __init__(self, cap):
        self.cap, self.n, self.i = cap, 0, 0
        self.s = np.zeros((cap, N_POS), np.float32); self.a = np.zeros(cap, np.int32)
        self.r = np.zeros(cap, np.float32); self.s2 = np.zeros((cap, N_POS), np.float32)
        self.d = np.zeros(cap, np.float32)
    def add(self, s, a, r, s2, d):
        j = self.i
        self.s[j], self.a[j], self.r[j], self.s2[j], self.d[j] = s, a, r, s2, d
        self.i = (self.i + 1) % self.cap; self.n = min(self.n + 1, self.cap)
    def sample(self, k):
        idx = rng.integers(0, self.n, k)
        return (mx.array(self.s[idx]), mx.array(self.a[idx]), mx.array(self.r[idx]),
                mx.array(self.s2[idx]), mx.array(self.d[idx]))

qnet, target = QNet(), QNet()
target.update(tree_map(lambda x: x, qnet.parameters()))
opt = optim.Adam(learning_rate=1e-3)
GAMMA = 0.95

def td_loss(model, s, a, r, s2, d):
    q = mx.take_along_axis(model(s), a[:, None], axis=1).squeeze(1)
    q_next = mx.stop_gradient(target(s2)).max(axis=1)
    y = r + GAMMA * (1.0 - d) * q_next
    return nn.losses.huber_loss(q, y, reduction="mean")

loss_and_grad = nn.value_and_grad(qnet, td_loss)

def greedy_eval(n=40):
    steps = []
    for k in range(n):
        p = k % 4
        for t in range(MAX_T):
            a = int(mx.argmax(qnet(mx.array(obs(p)[None]))[0]).item())
            p, _, done = env_step(p, a)
            if done: break
        steps.append(t + 1 if done else MAX_T)
    return float(np.mean(steps)), 100.0 * np.mean([s < MAX_T for s in steps])

buf = Replay(2000)
t0 = time.time()
s_len, s_reach = greedy_eval()
print(f"ferry-dqn | start | eval steps-to-dock {s_len:.1f} (cap {MAX_T}) | docked {s_reach:.0f}%")
step, episodes, window = 0, 0, []
checked = False
while step < 4500:
    p = int(rng.integers(0, 4)); episodes += 1
    eps = max(0.05, 1.0 - step / 1500)
    for t in range(MAX_T):
        if rng.random() < eps:
            a = int(rng.integers(0, ACTIONS))
        else:
            a = int(mx.argmax(qnet(mx.array(obs(p)[None]))[0]).item())
        q, r, done = env_step(p, a)
        buf.add(obs(p), a, r, obs(q), float(done))
        p = q
        if buf.n >= 64:
            loss, grads = loss_and_grad(qnet, *buf.sample(64))
            if not checked:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"ferry-dqn | grads | {len(flat)} leaves, zero: {zero}")
                checked = True
            opt.update(qnet, grads)
            mx.eval(qnet.parameters(), opt.state, loss)
            window.append(loss.item()); step += 1
            if step % 150 == 0:
                target.update(tree_map(lambda x: x, qnet.parameters()))
            if step % 500 == 0:
                m_len, m_reach = greedy_eval()
                print(f"ferry-dqn | step {step} | eps {eps:.2f} | replay {buf.n}/{buf.cap} "
                      f"| td huber {np.mean(window):.4f} | eval steps-to-dock {m_len:.1f} "
                      f"| docked {m_reach:.0f}% | {time.time()-t0:.1f}s")
                window = []
        if done: break
print(f"ferry-dqn | done | episodes {episodes} | shortest possible ~{GOAL - 1.5:.1f} steps")
