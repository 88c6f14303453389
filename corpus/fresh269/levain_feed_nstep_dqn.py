# Sourdough starter feeding schedule learned with 3-step double DQN and a replay buffer.
# 16 starters are simulated in parallel for 30 hours; actions: wait / small feed / big feed.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H, N_ENV, N_STEP, GAMMA = 30, 16, 3, 0.97
rng = np.random.default_rng(7)
mx.random.seed(7)

def reset(n):
    return rng.uniform(0.2, 0.5, n), rng.uniform(0.1, 0.4, n), np.zeros(n, np.int64)

def observe(y, a, t):
    return np.stack([y, a, t / H, y * (1 - a)], 1).astype(np.float32)

def step(y, a, t, act, noise=True):
    g = rng.uniform(0.9, 1.1, y.shape) if noise else 1.0
    y_w = y + 0.35 * g * y * (1 - y) * (1 - a)
    a_w = a + 0.12 * y
    y_s, a_s = y * 0.75, a * 0.55
    y_b, a_b = y * 0.5, a * 0.25
    y2 = np.select([act == 0, act == 1], [y_w, y_s], y_b)
    a2 = np.select([act == 0, act == 1], [a_w, a_s], a_b)
    y2, a2 = np.clip(y2, 0.05, 1.0), np.clip(a2, 0.0, 1.0)
    cost = np.select([act == 0, act == 1], [0.0, 0.04], 0.08)
    r = y2 * (1 - a2) - cost
    return y2, a2, t + 1, r

class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.out = nn.Linear(4, 64), nn.Linear(64, 64), nn.Linear(64, 3)
    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))

class Replay:
    def __init__(self, cap):
        self.cap, self.i, self.full = cap, 0, False
        self.s = np.zeros((cap, 4), np.float32); self.s2 = np.zeros((cap, 4), np.float32)
        self.a = np.zeros(cap, np.int64); self.g = np.zeros(cap, np.float32)
        self.disc = np.zeros(cap, np.float32)
    def add(self, s, a, g, s2, disc):
        for k in range(len(a)):
            j = self.i
            self.s[j], self.a[j], self.g[j], self.s2[j], self.disc[j] = s[k], a[k], g[k], s2[k], disc[k]
            self.i = (self.i + 1) % self.cap
            self.full = self.full or self.i == 0
    def __len__(self):
        return self.cap if self.full else self.i
    def sample(self, b):
        idx = rng.integers(0, len(self), b)
        return self.s[idx], self.a[idx], self.g[idx], self.s2[idx], self.disc[idx]

def run_episode(policy, noise=True):
    y, a, t = reset(N_ENV)
    S, A, R = [], [], []
    for _ in range(H):
        o = observe(y, a, t)
        act = policy(o, t)
        y, a, t, r = step(y, a, t, act, noise)
        S.append(o); A.append(act); R.append(r)
    S.append(observe(y, a, t))
    return np.stack(S, 1), np.stack(A, 1), np.stack(R, 1)

def nstep(S, A, R):
    s, a, g, s2, disc = [], [], [], [], []
    for k in range(H):
        m = min(N_STEP, H - k)
        G = sum((GAMMA ** i) * R[:, k + i] for i in range(m))
        end = k + m
        s.append(S[:, k]); a.append(A[:, k]); g.append(G); s2.append(S[:, end])
        disc.append(np.full(N_ENV, 0.0 if end == H else GAMMA ** m))
    return (np.concatenate(s), np.concatenate(a), np.concatenate(g).astype(np.float32),
            np.concatenate(s2), np.concatenate(disc).astype(np.float32))

def td_loss(q, s, a, g, s2, disc, q_targ_next, a_next):
    qsa = mx.take_along_axis(q(s), a[:, None], 1).squeeze(1)
    boot = mx.take_along_axis(q_targ_next, a_next[:, None], 1).squeeze(1)
    target = g + disc * boot
    return nn.losses.huber_loss(qsa, target, reduction="mean")

q, q_targ = QNet(), QNet()
mx.eval(q.parameters())
q_targ.update(q.parameters()); mx.eval(q_targ.parameters())
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(q, td_loss)
buf = Replay(20000)

def greedy(o, t):
    return np.array(mx.argmax(q(mx.array(o)), 1))

def evaluate(pol):
    _, _, R = run_episode(pol, noise=False)
    return R.sum(1).mean()

base_wait = evaluate(lambda o, t: np.zeros(N_ENV, np.int64))
base_small4 = evaluate(lambda o, t: np.where(t % 4 == 3, 1, 0))
base_rand = np.mean([evaluate(lambda o, t: rng.integers(0, 3, N_ENV)) for _ in range(5)])
print(f"baselines: wait {base_wait:.3f}  small-feed every 4h {base_small4:.3f}  random {base_rand:.3f}")

grad_steps, WARM = 0, 2000
for ep in range(40):
    eps = max(0.05, 1.0 - ep / 25)
    def behave(o, t):
        g = greedy(o, t)
        return np.where(rng.random(N_ENV) < eps, rng.integers(0, 3, N_ENV), g)
    S, A, R = run_episode(behave)
    buf.add(*nstep(S, A, R))
    if len(buf) < WARM:
        continue
    losses = []
    for _ in range(H):
        s, a, g, s2, disc = buf.sample(128)
        s, a, g, s2, disc = map(mx.array, (s, a, g, s2, disc))
        a_next = mx.argmax(q(s2), 1)
        q_next = q_targ(s2)
        loss, grads = vg(q, s, a, g, s2, disc, q_next, a_next)
        opt.update(q, grads)
        mx.eval(q.parameters(), opt.state, loss)
        losses.append(loss.item()); grad_steps += 1
        if grad_steps % 150 == 0:
            q_targ.update(q.parameters()); mx.eval(q_targ.parameters())
    if ep % 4 == 0 or ep == 39:
        mq = mx.max(q(mx.array(S[:, 0])), 1).mean().item()
        print(f"ep {ep:2d} eps {eps:.2f} buffer {len(buf):5d} steps {grad_steps:4d} "
              f"behave-ret {R.sum(1).mean():6.3f} td {np.mean(losses):.4f} maxQ0 {mq:6.3f} "
              f"greedy {evaluate(greedy):6.3f}")

final = evaluate(greedy)
print(f"final greedy {final:.3f} | wait {base_wait:.3f} small-every-4 {base_small4:.3f} random {base_rand:.3f}")
