"""Which detour message should the roadside sign show?

Neural-linear Thompson sampling: an MLP trunk is trained on the interaction
log, and a Bayesian linear regression per message sits on top of its features
(NumPy).  The log is a ring buffer that fills up to CAPACITY and then keeps
overwriting its oldest entries.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_CTX = 6
N_ARMS = 4
ROUNDS = 3000
RETRAIN_EVERY = 50
STEPS_PER_RETRAIN = 40
BATCH = 64
CAPACITY = 1500
NOISE_SD = 0.5
PRIOR_PREC = 1.0
REPORT_EVERY = 250

rng = np.random.default_rng(7)
mx.random.seed(7)

# --- the road network (hidden from the agent) ---------------------------------
W_TRUE = rng.normal(0.0, 0.8, size=(N_ARMS, N_CTX))
B_TRUE = np.array([0.3, 0.0, -0.2, 0.1])


def draw_context():
    hour = rng.uniform(0, 24)
    severity = rng.integers(0, 3)
    queue = rng.gamma(2.0, 0.6)
    rain = float(rng.random() < 0.25)
    weekday = float(rng.random() < 5 / 7)
    return np.array([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                     severity - 1.0, queue - 1.2, rain, weekday], dtype=np.float32)


def expected_saving(x):
    """minutes saved (scaled) per message, before noise"""
    lin = W_TRUE @ x + B_TRUE
    inter = np.array([0.8 * x[2] * x[3], -0.6 * x[4] * x[3], 0.5 * x[0] * x[5], 0.0])
    return np.tanh(lin + inter) * 1.5


# --- model ---------------------------------------------------------------------
class Trunk(nn.Module):
    def __init__(self, d_in, d_feat):
        super().__init__()
        self.l1 = nn.Linear(d_in, 64)
        self.l2 = nn.Linear(64, d_feat)

    def __call__(self, x):
        return mx.tanh(self.l2(mx.tanh(self.l1(x))))


class RewardNet(nn.Module):
    def __init__(self, d_feat=16):
        super().__init__()
        self.trunk = Trunk(N_CTX, d_feat)
        self.head = nn.Linear(d_feat, N_ARMS)

    def __call__(self, x):
        return self.head(self.trunk(x))


def masked_mse(model, x, arm_onehot, r):
    pred = (model(x) * arm_onehot).sum(axis=1)
    return ((pred - r) ** 2).mean()


def numpy_trunk(model):
    p = {k: np.array(v) for k, v in tree_flatten(model.trunk.parameters())}

    def feat(x):
        h = np.tanh(x @ p["l1.weight"].T + p["l1.bias"])
        return np.tanh(h @ p["l2.weight"].T + p["l2.bias"])
    return feat


class Posterior:
    """per-arm Bayesian linear regression on trunk features"""

    def __init__(self, d):
        self.d = d
        self.reset()

    def reset(self):
        self.A = np.stack([np.eye(self.d) * PRIOR_PREC] * N_ARMS)
        self.b = np.zeros((N_ARMS, self.d))

    def add(self, arm, phi, r):
        self.A[arm] += np.outer(phi, phi)
        self.b[arm] += phi * r

    def sample_scores(self, phi):
        scores = np.empty(N_ARMS)
        for a in range(N_ARMS):
            cov = np.linalg.inv(self.A[a])
            mean = cov @ self.b[a]
            L = np.linalg.cholesky(cov * NOISE_SD ** 2 + 1e-9 * np.eye(self.d))
            beta = mean + L @ rng.standard_normal(self.d)
            scores[a] = phi @ beta
        return scores


model = RewardNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, masked_mse)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, a, r):
    loss, grads = loss_and_grad(model, x, a, r)
    opt.update(model, grads)
    return loss


# interaction log (numpy): grows until CAPACITY, then overwrites the oldest
buf_x = np.zeros((0, N_CTX), dtype=np.float32)
buf_a = np.zeros(0, dtype=np.int64)
buf_r = np.zeros(0, dtype=np.float32)
n_seen = 0

post = Posterior(16)
feat = numpy_trunk(model)
checked = False
win_reward, win_regret, win_best = [], [], []
cum_regret = 0.0
last_loss = float("nan")
t0 = time.time()

print(json.dumps({"event": "start", "rounds": ROUNDS, "arms": N_ARMS,
                  "capacity": CAPACITY, "retrain_every": RETRAIN_EVERY}))

for t in range(1, ROUNDS + 1):
    x = draw_context()
    phi = feat(x[None])[0]
    arm = int(np.argmax(post.sample_scores(phi)))
    mu = expected_saving(x)
    r = float(mu[arm] + NOISE_SD * rng.standard_normal())

    if len(buf_r) < CAPACITY:
        buf_x = np.concatenate([buf_x, x[None]])
        buf_a = np.append(buf_a, arm)
        buf_r = np.append(buf_r, np.float32(r))
    else:
        slot = n_seen % CAPACITY
        buf_x[slot], buf_a[slot], buf_r[slot] = x, arm, r
    n_seen += 1
    post.add(arm, phi, r)

    regret = float(mu.max() - mu[arm])
    cum_regret += regret
    win_reward.append(r)
    win_regret.append(regret)
    win_best.append(arm == int(np.argmax(mu)))

    if t % RETRAIN_EVERY == 0:
        size = min(n_seen, CAPACITY)
        if not checked:
            idx = rng.integers(0, size, BATCH)
            xb = mx.array(buf_x[idx])
            ab = mx.array(np.eye(N_ARMS, dtype=np.float32)[buf_a[idx]])
            rb = mx.array(buf_r[idx])
            _, g = loss_and_grad(model, xb, ab, rb)
            norms = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(g)}
            zero = [k for k, v in norms.items() if v == 0.0]
            print(json.dumps({"event": "grad_check", "leaves": len(norms),
                              "zero_leaves": zero}))
            checked = True
        for _ in range(STEPS_PER_RETRAIN):
            idx = rng.integers(0, size, BATCH)
            loss = train_step(mx.array(buf_x[idx]),
                              mx.array(np.eye(N_ARMS, dtype=np.float32)[buf_a[idx]]),
                              mx.array(buf_r[idx]))
            mx.eval(loss, state)
        last_loss = loss.item()
        # new features -> rebuild the posterior from what the buffer holds now
        feat = numpy_trunk(model)
        post.reset()
        phis = feat(buf_x[:size])
        for a in range(N_ARMS):
            m = buf_a[:size] == a
            post.A[a] += phis[m].T @ phis[m]
            post.b[a] += phis[m].T @ buf_r[:size][m]

    if t % REPORT_EVERY == 0:
        print(json.dumps({
            "event": "window", "round": t,
            "buffer": min(n_seen, CAPACITY),
            "buffer_kb": round((buf_x.nbytes + buf_a.nbytes + buf_r.nbytes) / 1024, 1),
            "mean_reward": round(float(np.mean(win_reward)), 4),
            "regret_per_round": round(float(np.mean(win_regret)), 4),
            "cum_regret": round(cum_regret, 2),
            "best_arm_pct": round(100.0 * float(np.mean(win_best)), 1),
            "last_batch_mse": round(last_loss, 4),
            "secs": round(time.time() - t0, 1),
        }))
        win_reward, win_regret, win_best = [], [], []

# oracle / uniform references on fresh contexts
ctx = np.stack([draw_context() for _ in range(4000)])
mus = np.stack([expected_saving(c) for c in ctx])
print(json.dumps({"event": "done", "oracle_mean": round(float(mus.max(1).mean()), 4),
                  "uniform_mean": round(float(mus.mean()), 4),
                  "cum_regret": round(cum_regret, 2),
                  "secs": round(time.time() - t0, 1)}))
