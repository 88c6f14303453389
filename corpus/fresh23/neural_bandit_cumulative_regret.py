"""Neural contextual bandit (epsilon-greedy with a decaying epsilon).

Each round: observe a context, the reward model predicts the reward of each
of K arms, pick the best (or explore), observe a noisy reward for the chosen
arm only, append to a replay log, and take a few SGD steps on squared error
of the chosen-arm predictions.

The headline number is the CUMULATIVE regret against the oracle arm: it can
only go up.  A working learner makes it grow sub-linearly (the per-window
regret shrinks), a broken one grows linearly.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

K, DCTX, ROUNDS, WINDOW = 5, 10, 6000, 500
W_true = rng.normal(size=(DCTX, K)).astype(np.float32)
B_true = rng.normal(scale=0.3, size=(K,)).astype(np.float32)


def true_means(ctx):
    # nonlinear expected reward per arm
    return np.tanh(ctx @ W_true + B_true) + 0.3 * np.sin(2.0 * ctx[..., :K])


class RewardNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(DCTX, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Linear(64, K)

    def __call__(self, x):
        return self.head(self.body(x))


net = RewardNet()
mx.eval(net.parameters())
opt = optim.Adam(learning_rate=2e-3)


def loss_fn(model, x, arms, r):
    pred = model(x)
    chosen = mx.take_along_axis(pred, arms[:, None], axis=1)[:, 0]
    return mx.mean((chosen - r) ** 2)


loss_and_grad = nn.value_and_grad(net, loss_fn)

log_x = np.zeros((ROUNDS, DCTX), np.float32)
log_a = np.zeros((ROUNDS,), np.int32)
log_r = np.zeros((ROUNDS,), np.float32)

cum_regret = 0.0
win_regret = 0.0
win_loss = []
t0 = time.time()
print("round,epsilon,cum_regret,window_regret_per_round,fit_mse,elapsed_s")
for t in range(ROUNDS):
    ctx = rng.normal(size=(DCTX,)).astype(np.float32)
    mu = true_means(ctx)
    eps = max(0.02, 1.0 / (1.0 + t / 150.0))
    if rng.random() < eps:
        arm = int(rng.integers(K))
    else:
        arm = int(np.argmax(np.array(net(mx.array(ctx[None]))[0])))
    reward = float(mu[arm] + rng.normal(scale=0.5))
    regret = float(mu.max() - mu[arm])
    cum_regret += regret
    win_regret += regret
    log_x[t], log_a[t], log_r[t] = ctx, arm, reward

    # a couple of SGD steps on minibatches from everything seen so far
    if t >= 32:
        for _ in range(2):
            idx = rng.integers(0, t + 1, size=32)
            loss, grads = loss_and_grad(net, mx.array(log_x[idx]), mx.array(log_a[idx]), mx.array(log_r[idx]))
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state, loss)
            win_loss.append(loss.item())

    if (t + 1) % WINDOW == 0:
        fit = sum(win_loss) / max(1, len(win_loss))
        print(f"{t + 1},{eps:.3f},{cum_regret:.1f},{win_regret / WINDOW:.4f},{fit:.4f},{time.time() - t0:.1f}", flush=True)
        win_regret = 0.0
        win_loss = []
