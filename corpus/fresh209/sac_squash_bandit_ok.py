# SAC actor warm-start on a continuous contextual bandit (critic is the known
# analytic reward, so only the squashed-Gaussian actor is trained).
# The actor is restored from a checkpoint taken right after a critic blow-up:
# its mean head is saturated, every action comes out at +1.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
OBS, ACT, ALPHA, STEPS, BATCH = 4, 2, 0.05, 2000, 128
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
W_TRUE = mx.random.normal((OBS, ACT)) * 0.5


def best_action(obs):
    return 0.7 * mx.tanh(obs @ W_TRUE)


def reward(obs, act):
    return -mx.sum((act - best_action(obs)) ** 2, axis=-1)


def _gauss_log_prob(x, mean, log_std):
    var = mx.exp(2.0 * log_std)
    return mx.sum(-((x - mean) ** 2) / (2.0 * var) - log_std - 0.5 * math.log(2 * math.pi), axis=-1)


class SACActor(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(obs_dim, hidden)
        self.mu = nn.Linear(hidden, act_dim)
        self.log_std_h = nn.Linear(hidden, act_dim)

    def __call__(self, obs):
        h = nn.relu(self.l1(obs))
        mu = self.mu(h)
        log_std = mx.clip(self.log_std_h(h), LOG_STD_MIN, LOG_STD_MAX)
        return mu, log_std

    def sample(self, obs):
        mu, log_std = self(obs)
        std = mx.exp(log_std)
        z = mu + std * mx.random.normal(mu.shape)
        action = mx.tanh(z)
        x = -2.0 * z
        softplus_x = mx.where(x > 0, x + mx.log1p(mx.exp(-x)), mx.log1p(mx.exp(x)))
        log_prob = _gauss_log_prob(z, mu, log_std) - mx.sum(2 * (math.log(2.0) - z - softplus_x), axis=-1)
        return action, log_prob


actor = SACActor(OBS, ACT)
# state of the checkpoint after the blow-up: saturated means, narrow std
actor.mu.bias = mx.full((ACT,), 11.0)
actor.log_std_h.bias = mx.full((ACT,), -2.0)
mx.eval(actor.parameters())
opt = optim.Adam(learning_rate=3e-3)


def actor_loss(model, obs):
    act, logp = model.sample(obs)
    return mx.mean(ALPHA * logp - reward(obs, act)), (act, logp)


step_fn = nn.value_and_grad(actor, actor_loss)
t0 = time.time()
print(f"{'step':>5} {'loss':>9} {'Q':>8} {'logp':>8} {'|a|':>6} {'sat%':>6}")
for step in range(STEPS + 1):
    obs = mx.random.normal((BATCH, OBS))
    (loss, (act, logp)), grads = step_fn(actor, obs)
    opt.update(actor, grads)
    mx.eval(actor.parameters(), opt.state, loss, act, logp)
    if step % 100 == 0:
        q = mx.mean(reward(obs, act)).item()
        sat = 100.0 * mx.mean((mx.abs(act) > 0.999).astype(mx.float32)).item()
        print(f"{step:5d} {loss.item():9.4f} {q:8.4f} {mx.mean(logp).item():8.3f} "
              f"{mx.mean(mx.abs(act)).item():6.3f} {sat:6.1f}")

obs = mx.random.normal((1024, OBS))
mu, _ = actor(obs)
greedy = mx.tanh(mu)
print(f"eval greedy reward {mx.mean(reward(obs, greedy)).item():.4f} "
      f"(optimum 0.0000, random-uniform {mx.mean(reward(obs, mx.random.uniform(-1, 1, greedy.shape))).item():.4f})")
print(f"done in {time.time() - t0:.1f}s")
