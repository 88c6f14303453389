"""Value estimation for a mill-race sluice schedule with PopArt-normalised targets.

A 12-position mill race (water level bands) drifts stochastically; each
position pays a noisy amount for the ground corn. We learn the state value of
the keeper's standing schedule from sampled discounted returns. Halfway through
the ledger switches from shillings to pence (x40), so targets jump in scale.
PopArt keeps the network output normalised and rescales the head so the
predictions are preserved when the statistics move.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

N_STATES = 12
FEAT = 8
GAMMA = 0.9
HORIZON = 45
BATCH = 64
STEPS = 1200
SWITCH_AT = 600
BETA = 0.05

# standing schedule dynamics: drift up with prob .55, down .30, stay .15
P = np.zeros((N_STATES, N_STATES))
for s in range(N_STATES):
    P[s, min(s + 1, N_STATES - 1)] += 0.55
    P[s, max(s - 1, 0)] += 0.30
    P[s, s] += 0.15
base_reward = np.sin(np.linspace(0, 2.5 * np.pi, N_STATES)) + 0.3 * np.linspace(-1, 1, N_STATES)
REWARD_NOISE = 0.5
embed = rng.normal(0, 1, (N_STATES, FEAT)).astype(np.float32)
cum_P = np.cumsum(P, axis=1)


def true_values(scale):
    r = base_reward * scale
    return np.linalg.solve(np.eye(N_STATES) - GAMMA * P, r)


def sample_returns(batch, scale):
    starts = rng.integers(0, N_STATES, size=batch)
    s = starts.copy()
    g = np.zeros(batch)
    disc = 1.0
    for _ in range(HORIZON):
        r = (base_reward[s] + rng.normal(0, REWARD_NOISE, size=batch)) * scale
        g += disc * r
        disc *= GAMMA
        u = rng.random(batch)
        s = (u[:, None] > cum_P[s]).sum(axis=1)
        s = np.minimum(s, N_STATES - 1)
    return starts, g.astype(np.float32)


class ValueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEAT, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


model = ValueNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)

mu, nu = 0.0, 1.0  # running first / second moments of the targets


def sigma_of(mu, nu):
    return float(np.sqrt(max(nu - mu * mu, 1e-8)))


def loss_fn(m, x, y_norm):
    return mx.mean((m(x) - y_norm) ** 2)


grad_fn = nn.value_and_grad(model, loss_fn)
all_x = mx.array(embed)

print(f"states={N_STATES} gamma={GAMMA} batch={BATCH} steps={STEPS} ledger switch at step {SWITCH_AT}")
t0 = time.time()
scale = 1.0
for step in range(1, STEPS + 1):
    if step == SWITCH_AT + 1:
        scale = 40.0
        print(f"--- step {step}: ledger now kept in pence (rewards x{scale:.0f}) ---")
    starts, g = sample_returns(BATCH, scale)

    # PopArt: update statistics, then rescale the head to preserve outputs
    old_sigma, old_mu = sigma_of(mu, nu), mu
    mu = (1 - BETA) * mu + BETA * float(g.mean())
    nu = (1 - BETA) * nu + BETA * float((g.astype(np.float64) ** 2).mean())
    new_sigma = sigma_of(mu, nu)
    w, b = model.head.weight, model.head.bias
    model.head.weight = w * (old_sigma / new_sigma)
    model.head.bias = (old_sigma * b + old_mu - mu) / new_sigma

    x = all_x[mx.array(starts)]
    y_norm = mx.array((g - mu) / new_sigma)
    loss, grads = grad_fn(model, x, y_norm)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)

    if step % 50 == 0 or step == 1:
        pred = np.array(model(all_x)) * new_sigma + mu
        v = true_values(scale)
        spread = v.std()
        rel = float(np.sqrt(((pred - v) ** 2).mean()) / spread)
        base_rel = float(np.sqrt(((mu - v) ** 2).mean()) / spread)
        raw_mse = float(np.mean((np.array(model(x)) * new_sigma + mu - g) ** 2))
        print(f"step {step:5d} | norm_loss {loss.item():.4f} | raw_mse {raw_mse:10.3f} | "
              f"mu {mu:9.3f} sigma {new_sigma:8.3f} | value rel-rmse {rel:.3f} "
              f"(mean-only baseline {base_rel:.3f})")

v = true_values(scale)
pred = np.array(model(all_x)) * sigma_of(mu, nu) + mu
print("final values (pence):", " ".join(f"{p:7.1f}" for p in pred))
print("true  values (pence):", " ".join(f"{p:7.1f}" for p in v))
rel = float(np.sqrt(((pred - v) ** 2).mean()) / v.std())
print(f"final value rel-rmse {rel:.3f}  time {time.time() - t0:.1f}s")
