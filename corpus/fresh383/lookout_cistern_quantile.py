# Fire-lookout tower: a solar battery drives a pump that lifts spring water into the
# crew cistern. A quantile-regression DQN learns when to pump (off / slow / fast).
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

N_ENVS, HOURS = 32, 24
N_ACT, N_Q = 3, 21
GAMMA = 0.95
PUMP_WATER = np.array([0.0, 0.06, 0.12])
PUMP_POWER = np.array([0.0, 0.05, 0.12])


class Towers:
    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.reset()

    def reset(self):
        self.batt = self.rng.uniform(0.3, 0.8, self.n)
        self.tank = self.rng.uniform(0.2, 0.6, self.n)
        self.sunny = (self.rng.random(self.n) < 0.6).astype(np.float64)
        self.hour = np.zeros(self.n, dtype=np.int64)
        return self.obs()

    def obs(self):
        ang = 2 * np.pi * self.hour / HOURS
        return np.stack([self.batt, self.tank, np.sin(ang), np.cos(ang), self.sunny], 1).astype(np.float32)

    def step(self, act):
        h = self.hour
        daylight = np.clip(np.sin(np.pi * (h - 6) / 13.0), 0.0, None)
        self.batt = np.minimum(1.0, self.batt + 0.09 * daylight * (0.35 + 0.65 * self.sunny))
        need = PUMP_POWER[act]
        can = self.batt >= need
        reward = np.where(can, 0.0, -0.6) - 0.01 * act
        self.batt = np.where(can, self.batt - need, self.batt)
        self.tank = self.tank + np.where(can, PUMP_WATER[act], 0.0)
        spill = self.tank > 1.0
        reward -= 0.05 * spill
        self.tank = np.minimum(self.tank, 1.0)
        peak = ((h >= 6) & (h <= 8)) | ((h >= 18) & (h <= 21))
        use = np.clip(self.rng.normal(np.where(peak, 0.09, 0.025), 0.015), 0.0, None)
        self.tank = self.tank - use
        dry = self.tank < 0.0
        reward -= 1.0 * dry
        self.tank = np.maximum(self.tank, 0.0)
        self.hour = h + 1
        done = self.hour >= HOURS
        return self.obs(), reward.astype(np.float32), done


class QuantileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, N_ACT * N_Q)

    def __call__(self, x):
        h = nn.silu(self.l2(nn.silu(self.l1(x))))
        return self.out(h).reshape(-1, N_ACT, N_Q)


taus = (mx.arange(N_Q, dtype=mx.float32) + 0.5) / N_Q


def quantile_huber(net, s, a, target):
    z = net(s)
    z_a = mx.take_along_axis(z, a[:, None, None].astype(mx.int32) * mx.ones((1, 1, N_Q), mx.int32), axis=1)[:, 0, :]
    u = target[:, None, :] - z_a[:, :, None]          # [B, N_Q(pred), N_Q(target)]
    absu = mx.abs(u)
    hub = mx.where(absu <= 1.0, 0.5 * u * u, absu - 0.5)
    w = mx.abs(taus[None, :, None] - (u < 0).astype(mx.float32))
    return (w * hub).sum(axis=1).mean()


def greedy(net, obs):
    return np.array(mx.argmax(net(mx.array(obs)).mean(axis=2), axis=1))


def heuristic(obs):
    batt, tank, s, c, sunny = obs.T
    act = np.zeros(len(obs), dtype=np.int64)
    act[(tank < 0.75) & (batt > 0.15)] = 1
    act[(tank < 0.45) & (batt > 0.3)] = 2
    return act


def evaluate(policy, days=4, seed=1234):
    env = Towers(64, np.random.default_rng(seed))
    total = np.zeros(64)
    for _ in range(days):
        obs = env.reset()
        for _ in range(HOURS):
            obs, r, _ = env.step(policy(obs))
            total += r
    return total.mean() / days


net, target_net = QuantileNet(), QuantileNet()
target_net.update(net.parameters())
mx.eval(net.parameters(), target_net.parameters())
opt = optim.Adam(learning_rate=5e-4)
loss_and_grad = nn.value_and_grad(net, quantile_huber)

CAP = 30000
buf_s = np.zeros((CAP, 5), np.float32); buf_a = np.zeros(CAP, np.int64)
buf_r = np.zeros(CAP, np.float32); buf_s2 = np.zeros((CAP, 5), np.float32); buf_d = np.zeros(CAP, np.float32)
ptr, size = 0, 0

rng = np.random.default_rng(SEED)
env = Towers(N_ENVS, rng)
obs = env.reset()
WARMUP_STEPS, TOTAL_STEPS, BATCH = 60, 1860, 128
EPS_END_STEP = 1000
coin = np.random.default_rng(0)
rand_ret = evaluate(lambda o: coin.integers(0, N_ACT, len(o)))
heur_ret = evaluate(heuristic)
print(f"baselines per day: random pump {rand_ret:.3f}  rule-of-thumb {heur_ret:.3f}")
print(f"collecting {WARMUP_STEPS * N_ENVS} random transitions before the first update")

updates, losses, ep_ret, day_returns = 0, [], np.zeros(N_ENVS), []
for step in range(TOTAL_STEPS):
    eps = 1.0 if step < WARMUP_STEPS else max(0.05, 1.0 - 0.95 * (step - WARMUP_STEPS) / (EPS_END_STEP - WARMUP_STEPS))
    act = greedy(net, obs)
    explore = rng.random(N_ENVS) < eps
    act[explore] = rng.integers(0, N_ACT, explore.sum())
    obs2, r, done = env.step(act)
    idx = (ptr + np.arange(N_ENVS)) % CAP
    buf_s[idx], buf_a[idx], buf_r[idx], buf_s2[idx], buf_d[idx] = obs, act, r, obs2, done
    ptr, size = (ptr + N_ENVS) % CAP, min(CAP, size + N_ENVS)
    ep_ret += r
    if done.all():
        day_returns.append(ep_ret.mean()); ep_ret[:] = 0
        obs = env.reset()
    else:
        obs = obs2
    if step < WARMUP_STEPS:
        continue
    j = rng.integers(0, size, BATCH)
    s2 = mx.array(buf_s2[j])
    zt = target_net(s2)
    a_star = mx.argmax(zt.mean(axis=2), axis=1)
    z_next = mx.take_along_axis(zt, a_star[:, None, None] * mx.ones((1, 1, N_Q), mx.int32), axis=1)[:, 0, :]
    tgt = mx.array(buf_r[j])[:, None] + GAMMA * (1.0 - mx.array(buf_d[j]))[:, None] * z_next
    tgt = mx.stop_gradient(tgt)
    loss, grads = loss_and_grad(net, mx.array(buf_s[j]), mx.array(buf_a[j]), tgt)
    opt.update(net, grads)
    mx.eval(net.parameters(), opt.state, loss)
    losses.append(loss.item())
    updates += 1
    if updates % 250 == 0:
        target_net.update(net.parameters())
        mx.eval(target_net.parameters())
    if updates % 300 == 0:
        ev = evaluate(lambda o: greedy(net, o))
        q_mean = net(mx.array(buf_s[j])).mean().item()
        print(f"update {updates:5d}  eps {eps:.2f}  qh-loss {np.mean(losses[-300:]):.4f}  mean Z {q_mean:+.3f}  "
              f"train day return {np.mean(day_returns[-8:]):+.3f}  greedy eval {ev:+.3f}")

final = evaluate(lambda o: greedy(net, o), days=8, seed=99)
print(f"final greedy eval per day {final:+.3f}  (random {rand_ret:+.3f}, rule-of-thumb {heur_ret:+.3f})")
