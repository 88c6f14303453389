"""Tea house: a contextual bandit picks one of 5 steeping times for each pot from the
leaf (7 features: oxidation, leaf size, water temp, roast, altitude, harvest week,
humidity) and is rewarded with a noisy tasting score (0-10). A small reward model
is trained online from a replay buffer that grows until it hits its cap (5000 pots)
and then overwrites the oldest. Regret per pot (lower is better) falls as it learns."""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(8205)
ARMS = np.array([1.0, 2.0, 3.0, 4.5, 6.0], np.float32)   # minutes
D, K, CAP, POTS, BATCH = 7, 5, 5000, 9000, 64
W_TRUE = rng.normal(0, 1, (D, 3)).astype(np.float32)


def best_minutes(x):
    h = np.tanh(x @ W_TRUE)
    return 3.2 + 1.4 * h[:, 0] - 0.8 * h[:, 1] * h[:, 2]


def mean_score(x, arm_idx):
    return 8.5 - 1.3 * (ARMS[arm_idx] - best_minutes(x)) ** 2 / (1.0 + 0.3 * np.abs(x[:, 0]))


class ScoreNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, K)

    def __call__(self, x):
        return self.head(nn.relu(self.l2(nn.relu(self.l1(x)))))


mx.random.seed(11)
net = ScoreNet()
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(model, x, a, r):
    q = model(x)
    q_a = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    return nn.losses.mse_loss(q_a, r)


vg = nn.value_and_grad(net, loss_fn)
state = [net.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, a, r):
    loss, g = vg(net, x, a, r)
    opt.update(net, g)
    return loss


buf_x = np.zeros((CAP, D), np.float32)
buf_a = np.zeros(CAP, np.int32)
buf_r = np.zeros(CAP, np.float32)
filled, head = 0, 0

x_eval = rng.normal(0, 1, (2000, D)).astype(np.float32)
best_eval = np.max(np.stack([mean_score(x_eval, np.full(2000, k)) for k in range(K)], 1), 1)


def greedy_regret():
    a = np.array(mx.argmax(net(mx.array(x_eval)), axis=1))
    return float(np.mean(best_eval - mean_score(x_eval, a)))


print(f"(run (arms {' '.join(f'{m:g}' for m in ARMS)}) (buffer-cap {CAP}) (pots {POTS}) "
      f"(random-policy-regret {float(np.mean(best_eval - np.mean([mean_score(x_eval, np.full(2000, k)) for k in range(K)], 0))):.3f}))")
print(f"(pot 0 (greedy-regret {greedy_regret():.3f}) (buffer 0))")

t0 = time.time()
regrets, losses = [], []
checked = False
for pot in range(1, POTS + 1):
    x = rng.normal(0, 1, (1, D)).astype(np.float32)
    eps = max(0.05, 1.0 - pot / 3000)
    if rng.random() < eps:
        arm = int(rng.integers(0, K))
    else:
        arm = int(mx.argmax(net(mx.array(x)), axis=1).item())
    mu_r = float(mean_score(x, np.array([arm]))[0])
    reward = mu_r + float(rng.normal(0, 0.7))
    regrets.append(float(np.max([mean_score(x, np.array([k]))[0] for k in range(K)])) - mu_r)
    buf_x[head], buf_a[head], buf_r[head] = x[0], arm, reward
    head = (head + 1) % CAP
    filled = min(filled + 1, CAP)
    if filled >= BATCH:
        idx = rng.integers(0, filled, BATCH)
        xb, ab, rb = mx.array(buf_x[idx]), mx.array(buf_a[idx]), mx.array(buf_r[idx])
        if not checked:
            _, g = vg(net, xb, ab, rb)
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            print(f"(gradcheck (pot {pot}) (leaves {len(flat)}) (zero ({' '.join(zero)})))")
            checked = True
        loss = train_step(xb, ab, rb)
        mx.eval(loss, net.state, opt.state)
        losses.append(loss.item())
    if pot % 1000 == 0:
        print(f"(pot {pot} (epsilon {eps:.2f}) (buffer {filled}) "
              f"(replay-mse {np.mean(losses[-1000:]):.3f}) "
              f"(online-regret {np.mean(regrets[-1000:]):.3f}) "
              f"(greedy-regret {greedy_regret():.3f}) (secs {time.time() - t0:.1f}))")
print(f"(done (greedy-regret {greedy_regret():.3f}) (noise-var {0.49:.2f}) (buffer {filled}))")
