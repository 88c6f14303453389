"""Ice-cream kiosk freezer restocking with a categorical (C51-style) Q network.

State: tubs in the freezer (0..9) and whether today is a hot day.
Actions: order 0, 3 or 6 tubs in the morning.
The network predicts a distribution of discounted returns over 51 atoms.
At the end the greedy policy is compared with simple ordering rules and with
the exact optimum from value iteration on the known model.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

CAP = 9
ORDERS = np.array([0, 3, 6])
LAM = np.array([1.5, 4.0])           # demand rate on mild / hot days
P_HOT = np.array([0.2, 0.5])         # P(tomorrow hot | today mild/hot)
PRICE, UNIT_COST, FEE, HOLD, LOST = 1.0, 0.35, 0.6, 0.05, 0.5
GAMMA = 0.9
N_ATOMS, V_MIN, V_MAX = 51, -6.0, 20.0
Z = np.linspace(V_MIN, V_MAX, N_ATOMS).astype(np.float32)
DZ = (V_MAX - V_MIN) / (N_ATOMS - 1)

N_ENVS = 32
UPDATES = 1200
BATCH = 128
WARMUP = 150
PEAK_LR = 1e-3
SYNC_EVERY = 200
BUFFER = 30000

rng = np.random.default_rng(7)
mx.random.seed(7)


def step_env(stock, hot, action, rng):
    order = ORDERS[action]
    on_hand = np.minimum(stock + order, CAP)
    demand = rng.poisson(LAM[hot])
    sales = np.minimum(demand, on_hand)
    unmet = demand - sales
    nxt = on_hand - sales
    reward = (PRICE * sales - UNIT_COST * order - FEE * (order > 0)
              - HOLD * nxt - LOST * unmet)
    nxt_hot = (rng.random(stock.shape) < P_HOT[hot]).astype(np.int64)
    return nxt, nxt_hot, reward.astype(np.float32)


def features(stock, hot):
    x = np.zeros((len(stock), CAP + 2), dtype=np.float32)
    x[np.arange(len(stock)), stock] = 1.0
    x[:, CAP + 1] = hot
    return mx.array(x)


class AtomNet(nn.Module):
    def __init__(self, n_in, n_actions, n_atoms, hidden=64):
        super().__init__()
        self.n_actions, self.n_atoms = n_actions, n_atoms
        self.l1 = nn.Linear(n_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_actions * n_atoms)

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h).reshape(-1, self.n_actions, self.n_atoms)


z_mx = mx.array(Z)


def project(next_probs, rewards, dones_mask):
    # Bellman-shifted atoms spread onto the atom grid with a triangular kernel
    tz = rewards[:, None] + GAMMA * dones_mask[:, None] * z_mx[None, :]
    tz = mx.clip(tz, V_MIN, V_MAX)
    w = mx.maximum(0.0, 1.0 - mx.abs(tz[:, :, None] - z_mx[None, None, :]) / DZ)
    return (next_probs[:, :, None] * w).sum(axis=1)


def loss_fn(model, x, actions, target_dist):
    logits = model(x)
    chosen = mx.take_along_axis(logits, actions[:, None, None], axis=1).squeeze(1)
    logp = chosen - mx.logsumexp(chosen, axis=-1, keepdims=True)
    return -(target_dist * logp).sum(axis=-1).mean()


def expected_q(model, x):
    probs = mx.softmax(model(x), axis=-1)
    return (probs * z_mx).sum(axis=-1)


def value_iteration():
    states = [(s, h) for s in range(CAP + 1) for h in range(2)]
    pmf = {}
    for h in range(2):
        k = np.arange(0, 30)
        p = np.exp(-LAM[h]) * LAM[h] ** k / np.array([math.factorial(int(i)) for i in k])
        pmf[h] = (k, p / p.sum())
    V = np.zeros((CAP + 1, 2))
    for _ in range(400):
        Q = np.zeros((CAP + 1, 2, 3))
        for s, h in states:
            k, p = pmf[h]
            for a in range(3):
                order = ORDERS[a]
                on_hand = min(s + order, CAP)
                sales = np.minimum(k, on_hand)
                unmet = k - sales
                nxt = on_hand - sales
                r = PRICE * sales - UNIT_COST * order - FEE * (order > 0) - HOLD * nxt - LOST * unmet
                cont = (1 - P_HOT[h]) * V[nxt, 0] + P_HOT[h] * V[nxt, 1]
                Q[s, h, a] = np.sum(p * (r + GAMMA * cont))
        V = Q.max(axis=-1)
    return V, Q.argmax(axis=-1)


def average_daily_profit(policy, days=300, n=256, seed=123):
    r_ = np.random.default_rng(seed)
    stock = np.full(n, 4)
    hot = np.zeros(n, dtype=np.int64)
    total = 0.0
    for _ in range(days):
        a = policy(stock, hot, r_)
        stock, hot, r = step_env(stock, hot, a, r_)
        total += r.mean()
    return total / days


model = AtomNet(CAP + 2, 3, N_ATOMS)
target = AtomNet(CAP + 2, 3, N_ATOMS)
target.update(tree_map(lambda p: p, model.parameters()))
mx.eval(model.parameters(), target.parameters())

schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, UPDATES - WARMUP, 1e-4)],
    [WARMUP],
)
opt = optim.Adam(learning_rate=schedule)
loss_and_grad = nn.value_and_grad(model, loss_fn)

buf_s = np.zeros(BUFFER, dtype=np.int64)
buf_h = np.zeros(BUFFER, dtype=np.int64)
buf_a = np.zeros(BUFFER, dtype=np.int64)
buf_r = np.zeros(BUFFER, dtype=np.float32)
buf_s2 = np.zeros(BUFFER, dtype=np.int64)
buf_h2 = np.zeros(BUFFER, dtype=np.int64)
ptr, size = 0, 0

stock = rng.integers(0, CAP + 1, N_ENVS)
hot = (rng.random(N_ENVS) < 0.3).astype(np.int64)

V_star, pi_star = value_iteration()
print(f"value iteration: V*(stock=4, mild)={V_star[4, 0]:.3f}  V*(stock=0, hot)={V_star[0, 1]:.3f}")
print(f"support [{V_MIN}, {V_MAX}] with {N_ATOMS} atoms, warmup {WARMUP} updates from lr=0, target sync every {SYNC_EVERY}")

t0 = time.time()
recent_loss = []
for upd in range(UPDATES):
    eps = max(0.05, 1.0 - upd / (0.6 * UPDATES))
    greedy = np.array(expected_q(model, features(stock, hot)).argmax(axis=-1))
    explore = rng.random(N_ENVS) < eps
    act = np.where(explore, rng.integers(0, 3, N_ENVS), greedy)
    nstock, nhot, rew = step_env(stock, hot, act, rng)
    idx = (ptr + np.arange(N_ENVS)) % BUFFER
    buf_s[idx], buf_h[idx], buf_a[idx], buf_r[idx] = stock, hot, act, rew
    buf_s2[idx], buf_h2[idx] = nstock, nhot
    ptr = (ptr + N_ENVS) % BUFFER
    size = min(size + N_ENVS, BUFFER)
    stock, hot = nstock, nhot

    j = rng.integers(0, size, BATCH)
    x = features(buf_s[j], buf_h[j])
    x2 = features(buf_s2[j], buf_h2[j])
    next_probs_all = mx.softmax(target(x2), axis=-1)
    next_q = (next_probs_all * z_mx).sum(axis=-1)
    a_star = next_q.argmax(axis=-1)
    next_probs = mx.take_along_axis(next_probs_all, a_star[:, None, None], axis=1).squeeze(1)
    tgt = mx.stop_gradient(project(next_probs, mx.array(buf_r[j]), mx.ones((BATCH,))))

    loss, grads = loss_and_grad(model, x, mx.array(buf_a[j]), tgt)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    recent_loss.append(loss.item())

    if (upd + 1) % SYNC_EVERY == 0:
        target.update(tree_map(lambda p: p, model.parameters()))
        mx.eval(target.parameters())
    if upd < 3 or (upd + 1) % 100 == 0:
        q_probe = np.array(expected_q(model, features(np.array([4]), np.array([0]))))[0]
        print(f"update {upd + 1:5d}  lr {opt.learning_rate.item():.2e}  eps {eps:.2f}  "
              f"xent {np.mean(recent_loss):.4f}  Q(4,mild)={np.round(q_probe, 2)}  "
              f"{'[target synced]' if (upd + 1) % SYNC_EVERY == 0 else ''}")
        recent_loss = []

print(f"training took {time.time() - t0:.1f}s")

grid_s = np.repeat(np.arange(CAP + 1), 2)
grid_h = np.tile(np.arange(2), CAP + 1)
q_all = np.array(expected_q(model, features(grid_s, grid_h)))
v_learned = q_all.max(axis=-1).reshape(CAP + 1, 2)
pi_learned = q_all.argmax(axis=-1).reshape(CAP + 1, 2)
print(f"mean |V_learned - V*| over 20 states: {np.abs(v_learned - V_star).mean():.3f}  "
      f"(V* spans {V_star.min():.2f}..{V_star.max():.2f})")
print(f"greedy action agrees with the optimum in {(pi_learned == pi_star).mean() * 100:.0f}% of states")

pols = {
    "random": lambda s, h, r: r.integers(0, 3, len(s)),
    "never order": lambda s, h, r: np.zeros(len(s), dtype=np.int64),
    "order 3 below 3": lambda s, h, r: np.where(s < 3, 1, 0),
    "optimum (VI)": lambda s, h, r: pi_star[s, h],
    "learned C51": lambda s, h, r: pi_learned[s, h],
}
for name, pol in pols.items():
    print(f"avg daily profit  {name:16s} {average_daily_profit(pol):+.3f}")
