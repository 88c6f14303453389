"""Mountain hut warden: a route across a talus field (cliff-walking grid).

Double DQN with a replay buffer and a hard-synced target network on a 4x10
grid. The bottom row between start and hut is a scree run-out: stepping on it
costs -100 and sends the walker back to the start. Each step costs -1.

Run layout:
  * the replay buffer is filled with random walks first (no updates, no log)
  * the learning rate warms up linearly from exactly 0
  * halfway through, the run saves a checkpoint, builds a fresh agent,
    loads the checkpoint and carries on (as after a pre-emption)
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 3
ROWS, COLS = 4, 10
START, GOAL = (3, 0), (3, COLS - 1)
MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]
GAMMA = 0.97
MAX_STEPS = 60
BUFFER = 20000
PREFILL = 2000
BATCH = 64
EPISODES = 200
RESUME_AT = 100
SYNC_EVERY = 100
WARMUP = 300
PEAK_LR = 2e-3

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def encode(pos):
    v = np.zeros(ROWS * COLS, dtype=np.float32)
    v[pos[0] * COLS + pos[1]] = 1.0
    return v


def step(pos, a):
    r, c = pos[0] + MOVES[a][0], pos[1] + MOVES[a][1]
    r = min(max(r, 0), ROWS - 1)
    c = min(max(c, 0), COLS - 1)
    if r == ROWS - 1 and 0 < c < COLS - 1:
        return START, -100.0, False
    if (r, c) == GOAL:
        return (r, c), -1.0, True
    return (r, c), -1.0, False


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(ROWS * COLS, 64)
        self.l2 = nn.Linear(64, 4)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


class Replay:
    def __init__(self, cap):
        self.s = np.zeros((cap, ROWS * COLS), np.float32)
        self.a = np.zeros(cap, np.int32)
        self.r = np.zeros(cap, np.float32)
        self.s2 = np.zeros((cap, ROWS * COLS), np.float32)
        self.d = np.zeros(cap, np.float32)
        self.cap, self.n, self.i = cap, 0, 0

    def add(self, s, a, r, s2, d):
        self.s[self.i], self.a[self.i], self.r[self.i] = s, a, r
        self.s2[self.i], self.d[self.i] = s2, d
        self.i = (self.i + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self, k):
        idx = rng.integers(0, self.n, size=k)
        return (mx.array(self.s[idx]), mx.array(self.a[idx]), mx.array(self.r[idx]),
                mx.array(self.s2[idx]), mx.array(self.d[idx]))


def make_agent():
    online, target = QNet(), QNet()
    target.update(online.parameters())
    mx.eval(online.parameters(), target.parameters())
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, 6000, 2e-4)],
        [WARMUP])
    opt = optim.Adam(learning_rate=sched)
    return online, target, opt


def td_loss(model, target, s, a, r, s2, d):
    q = mx.take_along_axis(model(s), a[:, None], axis=1).squeeze(1)
    a_star = mx.argmax(model(s2), axis=1)
    q_next = mx.take_along_axis(target(s2), a_star[:, None], axis=1).squeeze(1)
    y = mx.stop_gradient(r + GAMMA * (1.0 - d) * q_next)
    return nn.losses.huber_loss(q, y, reduction="mean")


def greedy_path(model):
    pos, total, steps = START, 0.0, 0
    while steps < 40:
        a = int(mx.argmax(model(mx.array(encode(pos)[None])), axis=1).item())
        pos, r, done = step(pos, a)
        total += r
        steps += 1
        if done:
            break
    return total, steps, pos == GOAL


def save_ckpt(path, online, target, opt, meta):
    flat = {f"online.{k}": v for k, v in tree_flatten(online.parameters())}
    flat.update({f"target.{k}": v for k, v in tree_flatten(target.parameters())})
    flat.update({f"opt.{k}": v for k, v in tree_flatten(opt.state)})
    mx.savez(path + ".npz", **flat)
    np.save(path + ".meta.npy", np.array(meta, dtype=np.int64))


def load_ckpt(path, online, target, opt):
    flat = mx.load(path + ".npz")
    pick = lambda p: [(k[len(p):], v) for k, v in flat.items() if k.startswith(p)]
    online.update(tree_unflatten(pick("online.")))
    target.update(tree_unflatten(pick("target.")))
    opt.state = tree_unflatten(pick("opt."))
    mx.eval(online.parameters(), target.parameters(), opt.state)
    return [int(x) for x in np.load(path + ".meta.npy")]


online, target, opt = make_agent()
grad_fn = nn.value_and_grad(online, td_loss)
buf = Replay(BUFFER)

# prefill with random walks (silent)
pos = START
for _ in range(PREFILL):
    a = int(rng.integers(0, 4))
    nxt, r, done = step(pos, a)
    buf.add(encode(pos), a, r, encode(nxt), float(done))
    pos = START if done else nxt

print(f"replay prefilled with {buf.n} random transitions")
print(f"optimal route: -{COLS + 1} (hug the ledge), safe route: about -{COLS + 5}")
print("episode | return | steps | eps | lr | td loss | mean max Q | greedy return")
t0 = time.time()
updates = 0
ckdir = tempfile.mkdtemp()
ckpath = os.path.join(ckdir, "talus")
ep = 1
recent = []
while ep <= EPISODES:
    if ep == RESUME_AT + 1:
        save_ckpt(ckpath, online, target, opt, [ep, updates])
        print(f"-- checkpoint written after episode {RESUME_AT}; restarting agent from it --")
        online, target, opt = make_agent()
        grad_fn = nn.value_and_grad(online, td_loss)
        ep, updates = load_ckpt(ckpath, online, target, opt)
        print(f"-- resumed at episode {ep}, update {updates}, opt step {int(opt.step.item())} --")
    eps = max(0.05, 1.0 - ep / 110)
    pos, ret, losses, qmax = START, 0.0, [], []
    for t in range(MAX_STEPS):
        if rng.random() < eps:
            a = int(rng.integers(0, 4))
        else:
            a = int(mx.argmax(online(mx.array(encode(pos)[None])), axis=1).item())
        nxt, r, done = step(pos, a)
        buf.add(encode(pos), a, r, encode(nxt), float(done))
        ret += r
        pos = nxt
        if t % 2 == 0:
            s, ab, rb, s2, db = buf.sample(BATCH)
            loss, grads = grad_fn(online, target, s, ab, rb, s2, db)
            opt.update(online, grads)
            mx.eval(online.parameters(), opt.state, loss)
            updates += 1
            losses.append(loss.item())
            if updates % SYNC_EVERY == 0:
                target.update(online.parameters())
                mx.eval(target.parameters())
        if done:
            break
    recent.append(ret)
    if ep % 10 == 0 or ep == 1:
        qm = float(online(mx.array(np.eye(ROWS * COLS, dtype=np.float32))).max(axis=1).mean())
        g, gs, ok = greedy_path(online)
        lr = float(opt.learning_rate.item())
        print(f"{ep:7d} | {np.mean(recent):7.1f} | {t + 1:5d} | {eps:4.2f} | {lr:.2e} | "
              f"{np.mean(losses):7.3f} | {qm:10.2f} | {g:6.1f}{'' if ok else ' (no hut)'}")
        recent = []
    ep += 1

g, gs, ok = greedy_path(online)
print(f"final greedy route: return {g:.1f} in {gs} steps, reached hut: {ok}; "
      f"{updates} updates, {time.time() - t0:.1f}s")
