"""DQN for a toy orchard-spraying drone on a 6x6 grid.

The drone starts on a random free cell and must reach the refill pad in the far
corner; two tree rows block part of the field.  A replay buffer (numpy ring
buffer with proportional PRIORITIES, importance-sampling weights annealed
towards 1) grows until it reaches its capacity and then holds that size; the
target network is a frozen copy that tracks the online net by Polyak averaging
and its values enter the loss under mx.stop_gradient.  Progress is printed as
JSON lines.
"""
import json
import time
from collections import deque

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

N = 6
BLOCKED = {(1, 2), (2, 2), (3, 2), (2, 4), (3, 4), (4, 4)}
GOAL = (N - 1, N - 1)
MOVES = [(0, 1), (1, 0), (0, -1), (-1, 0)]
FREE = [(r, c) for r in range(N) for c in range(N) if (r, c) not in BLOCKED and (r, c) != GOAL]
MAX_T = 30


def encode(pos):
    v = np.zeros(2 * N, dtype=np.float32)
    v[pos[0]] = 1.0
    v[N + pos[1]] = 1.0
    return v


def env_step(pos, a):
    r, c = pos[0] + MOVES[a][0], pos[1] + MOVES[a][1]
    if not (0 <= r < N and 0 <= c < N) or (r, c) in BLOCKED:
        r, c = pos  # bump: stay put
    if (r, c) == GOAL:
        return (r, c), 1.0, True
    return (r, c), -0.02, False


def shortest_paths():
    dist = {GOAL: 0}
    q = deque([GOAL])
    while q:
        p = q.popleft()
        for dr, dc in MOVES:
            nb = (p[0] + dr, p[1] + dc)
            if 0 <= nb[0] < N and 0 <= nb[1] < N and nb not in BLOCKED and nb not in dist:
                dist[nb] = dist[p] + 1
                q.append(nb)
    return dist


OPT = shortest_paths()


class QNet(nn.Module):
    def __init__(self, d_in=2 * N, hidden=64, n_act=4):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, n_act)

    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.l1(x)))))


class Replay:
    def __init__(self, cap, d):
        self.cap, self.n, self.i = cap, 0, 0
        self.s = np.zeros((cap, d), np.float32)
        self.a = np.zeros(cap, np.int32)
        self.r = np.zeros(cap, np.float32)
        self.s2 = np.zeros((cap, d), np.float32)
        self.done = np.zeros(cap, np.float32)
        self.prio = np.zeros(cap, np.float64)

    def add(self, s, a, r, s2, d):
        j = self.i
        self.s[j], self.a[j], self.r[j], self.s2[j], self.done[j] = s, a, r, s2, d
        self.prio[j] = self.prio[: self.n].max() if self.n else 1.0  # new ones get the max
        self.i = (self.i + 1) % self.cap
        self.n = min(self.n + 1, self.cap)

    def sample(self, rng, k, alpha, beta):
        pa = self.prio[: self.n] ** alpha
        probs = pa / pa.sum()
        j = rng.choice(self.n, size=k, p=probs)
        w = (self.n * probs[j]) ** (-beta)
        w = (w / w.max()).astype(np.float32)
        batch = (mx.array(self.s[j]), mx.array(self.a[j]), mx.array(self.r[j]),
                 mx.array(self.s2[j]), mx.array(self.done[j]), mx.array(w))
        return j, batch

    def set_priorities(self, j, td):
        self.prio[j] = np.abs(td) + 1e-3


def greedy_eval(net):
    """Run the greedy policy from every free cell; returns success % and mean extra steps."""
    ok, extra = 0, []
    for start in FREE:
        pos, t, done = start, 0, False
        while not done and t < MAX_T:
            q = net(mx.array(encode(pos))[None])
            pos, _, done = env_step(pos, int(mx.argmax(q, axis=-1).item()))
            t += 1
        if done:
            ok += 1
            extra.append(t - OPT[start])
    return 100.0 * ok / len(FREE), (float(np.mean(extra)) if extra else float("nan"))


def _num(v):
    if isinstance(v, float):
        return None if v != v else float(f"{v:.4g}")
    return v


def log(event, **kw):
    kw = {k: _num(v) for k, v in kw.items()}
    print(json.dumps({"event": event, **kw}), flush=True)


mx.random.seed(11)
rng = np.random.default_rng(11)
online, target = QNet(), QNet()
target.update(tree_map(lambda p: p, online.parameters()))
target.freeze()
opt = optim.Adam(learning_rate=1e-3)
GAMMA, BATCH, WARMUP, CAP, TAU = 0.95, 64, 400, 3000, 0.01
ALPHA, BETA0, BETA_STEPS = 0.6, 0.4, 5000
buf = Replay(CAP, 2 * N)


def td_loss(net, s, a, r, s2, done, w):
    q = mx.take_along_axis(net(s), a[:, None], axis=-1).squeeze(-1)
    q_next = mx.stop_gradient(target(s2).max(axis=-1))
    y = r + GAMMA * (1.0 - done) * q_next
    per_item = nn.losses.huber_loss(q, y, delta=1.0, reduction="none")
    return (w * per_item).mean(), q - y


loss_and_grad = nn.value_and_grad(online, td_loss)

succ0, extra0 = greedy_eval(online)
log("start", free_cells=len(FREE), buffer_cap=CAP, success_pct=succ0, mean_extra_steps=extra0)

episodes, updates, env_steps = 0, 0, 0
recent_loss, recent_ret = [], []
t0 = time.perf_counter()
checked = False
while episodes < 700:
    pos = FREE[rng.integers(len(FREE))]
    eps = max(0.05, 1.0 - episodes / 400)
    ret, done, t = 0.0, False, 0
    while not done and t < MAX_T:
        s = encode(pos)
        if rng.random() < eps:
            a = int(rng.integers(4))
        else:
            a = int(mx.argmax(online(mx.array(s)[None]), axis=-1).item())
        pos, r, done = env_step(pos, a)
        buf.add(s, a, r, encode(pos), float(done))
        ret += r
        t += 1
        env_steps += 1
        if buf.n >= WARMUP:
            beta = min(1.0, BETA0 + (1.0 - BETA0) * updates / BETA_STEPS)
            j, batch = buf.sample(rng, BATCH, ALPHA, beta)
            (loss, td), g = loss_and_grad(online, *batch)
            if not checked:
                zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
                log("gradcheck", trainable_leaves=len(tree_flatten(g)), zero_leaves=zero,
                    frozen_target_leaves=len(tree_flatten(target.parameters())))
                checked = True
            opt.update(online, g)
            target.update(tree_map(lambda t_, o_: (1 - TAU) * t_ + TAU * o_,
                                   target.parameters(), online.parameters()))
            mx.eval(loss, td, online.parameters(), opt.state, target.parameters())
            buf.set_priorities(j, np.array(td))
            recent_loss.append(loss.item())
            updates += 1
    recent_ret.append(ret)
    episodes += 1
    if episodes % 100 == 0:
        succ, extra = greedy_eval(online)
        log("report", episode=episodes, epsilon=eps, updates=updates, env_steps=env_steps,
            buffer_size=buf.n, is_beta=min(1.0, BETA0 + (1.0 - BETA0) * updates / BETA_STEPS),
            weighted_td_loss=float(np.mean(recent_loss)) if recent_loss else None,
            mean_return=float(np.mean(recent_ret)), greedy_success_pct=succ,
            greedy_extra_steps=extra, seconds=time.perf_counter() - t0)
        recent_loss, recent_ret = [], []

succ, extra = greedy_eval(online)
log("done", episodes=episodes, updates=updates, greedy_success_pct=succ, greedy_extra_steps=extra,
    seconds=time.perf_counter() - t0)
