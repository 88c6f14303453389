# Clavichord tuning helper: a DQN learns which tuning-pin turn to make on a
# drifting string.  State = (offset in cents / 20, drift rate, humidity, step
# fraction); actions = 5 pin turns (-8, -3, 0, +3, +8 cents).  Reward per step
# is -|offset after turn| / 10 plus a small cost for big turns.
# 64 strings are tuned in parallel; Q-network + periodically synced target net.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

TURNS = np.array([-8.0, -3.0, 0.0, 3.0, 8.0], dtype=np.float32)
N_ENV, HORIZON, GAMMA = 64, 16, 0.9
EPISODES = 36
SYNC_EVERY = 40          # target sync period, in gradient updates
BATCH = 256


class Strings:
    def reset(self):
        self.off = rng.uniform(-30, 30, N_ENV).astype(np.float32)
        self.drift = rng.uniform(-1.5, 1.5, N_ENV).astype(np.float32)
        self.hum = rng.uniform(0.3, 0.7, N_ENV).astype(np.float32)
        self.t = 0
        return self.obs()

    def obs(self):
        return np.stack([self.off / 20.0, self.drift, self.hum,
                         np.full(N_ENV, self.t / HORIZON, np.float32)], 1).astype(np.float32)

    def step(self, a):
        turn = TURNS[a]
        self.off = self.off + turn + self.drift * (1 + self.hum) + rng.normal(0, 0.7, N_ENV).astype(np.float32)
        self.t += 1
        r = -np.abs(self.off) / 10.0 - 0.02 * (np.abs(turn) > 5)
        return self.obs(), r.astype(np.float32), self.t >= HORIZON


def policy_return(kind, episodes=8):
    env, tot = Strings(), 0.0
    for _ in range(episodes):
        env.reset()
        for _ in range(HORIZON):
            if kind == "idle":
                a = np.full(N_ENV, 2)
            else:  # greedy hand-tuner: pick the turn that best cancels offset + expected drift
                pred = env.off[:, None] + TURNS[None, :] + (env.drift * (1 + env.hum))[:, None]
                a = np.argmin(np.abs(pred), 1)
            _, r, _ = env.step(a)
            tot += r.mean()
    return tot / episodes


class QNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, len(TURNS))

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


qnet, target = QNet(), QNet()
mx.eval(qnet.parameters())
target.update(qnet.parameters())
target.freeze()
mx.eval(target.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def td_loss(model, s, a, r, s2, done):
    q = mx.take_along_axis(model(s), a[:, None], axis=1).squeeze(1)
    # double-DQN target: online net picks, target net evaluates
    a2 = mx.argmax(model(s2), axis=1)
    q2 = mx.take_along_axis(target(s2), a2[:, None], axis=1).squeeze(1)
    y = mx.stop_gradient(r + GAMMA * (1.0 - done) * q2)
    return nn.losses.huber_loss(q, y, reduction="mean")


grad_fn = nn.value_and_grad(qnet, td_loss)

# replay buffer (numpy ring)
CAP = 40000
buf_s = np.zeros((CAP, 4), np.float32); buf_s2 = np.zeros((CAP, 4), np.float32)
buf_a = np.zeros(CAP, np.int32); buf_r = np.zeros(CAP, np.float32); buf_d = np.zeros(CAP, np.float32)
ptr, size = 0, 0

idle_ret, hand_ret = policy_return("idle"), policy_return("hand")
print(f"reference returns per episode: idle={idle_ret:.2f}  hand-tuner={hand_ret:.2f}")

env = Strings()
updates, t0 = 0, time.time()
first_params = {k: np.array(v) for k, v in tree_flatten(qnet.parameters())}
for ep in range(1, EPISODES + 1):
    eps = max(0.05, 1.0 - ep / (0.6 * EPISODES))
    s = env.reset()
    ep_ret, td_hist = 0.0, []
    done = False
    while not done:
        q = np.array(qnet(mx.array(s)))
        greedy = q.argmax(1)
        rand = rng.integers(0, len(TURNS), N_ENV)
        a = np.where(rng.random(N_ENV) < eps, rand, greedy)
        s2, r, done = env.step(a)
        idx = (np.arange(N_ENV) + ptr) % CAP
        buf_s[idx], buf_a[idx], buf_r[idx], buf_s2[idx], buf_d[idx] = s, a, r, s2, float(done)
        ptr = (ptr + N_ENV) % CAP; size = min(CAP, size + N_ENV)
        ep_ret += r.mean()
        s = s2
        if size >= 1024:
            for _ in range(2):
                j = rng.integers(0, size, BATCH)
                loss, g = grad_fn(qnet, mx.array(buf_s[j]), mx.array(buf_a[j]), mx.array(buf_r[j]),
                                  mx.array(buf_s2[j]), mx.array(buf_d[j]))
                opt.update(qnet, g)
                mx.eval(qnet.parameters(), opt.state, loss)
                td_hist.append(loss.item())
                updates += 1
                if updates % SYNC_EVERY == 0:
                    target.update(qnet.parameters())
                    mx.eval(target.parameters())
    bar = "#" * int(20 * ep / EPISODES)
    td = f"{np.mean(td_hist):.4f}" if td_hist else "  -   "
    print(f"ep {ep:3d}/{EPISODES} |{bar:<20}| return {ep_ret:7.2f} (idle {idle_ret:.2f}, hand {hand_ret:.2f}) "
          f"eps {eps:.2f} td {td} upd {updates}")

# greedy evaluation
tot = 0.0
for _ in range(8):
    s = env.reset(); done = False
    while not done:
        a = np.array(mx.argmax(qnet(mx.array(s)), axis=1))
        s, r, done = env.step(a)
        tot += r.mean()
greedy_ret = tot / 8
moved = max(float(np.abs(np.array(v) - first_params[k]).max()) for k, v in tree_flatten(qnet.parameters()))
print(f"greedy eval return {greedy_ret:.2f} | idle {idle_ret:.2f} | hand-tuner {hand_ret:.2f} | "
      f"max |dW| {moved:.3f} | {time.time() - t0:.1f}s")
