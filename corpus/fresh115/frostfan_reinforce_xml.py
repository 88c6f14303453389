"""Vineyard frost protection as a contextual bandit.  Each night the grower
chooses how many wind machines to run (0..4) from a 6-value forecast.  Reward
= -(bud damage) - (fuel cost), both noisy.  REINFORCE with a learned value
baseline (baseline under stop_gradient in the policy term) and an entropy
bonus annealed to 0.  The step is mx.compile'd with the model and optimizer
state; actions are sampled outside it.  Reports are self-closing XML tags."""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ACTIONS = 5
rng = np.random.default_rng(11)


def nights(n):
    tmin = rng.normal(-0.5, 2.2, n)        # forecast minimum temperature C
    inv = rng.uniform(0, 4, n)             # inversion strength (C, 10 m minus 2 m)
    wind = rng.gamma(2.0, 0.8, n)          # m/s
    cloud = rng.uniform(0, 1, n)
    bud = rng.uniform(0, 1, n)             # phenology 0 = dormant, 1 = open flower
    dew = tmin - rng.uniform(0.5, 4, n)
    return np.stack([tmin, inv, wind, cloud, bud, dew], 1).astype(np.float32)


def expected_reward(F, a):
    tmin, inv, wind, cloud, bud = F[:, 0], F[:, 1], F[:, 2], F[:, 3], F[:, 4]
    lift = np.minimum(a, 3) / 3.0 * inv * np.exp(-0.5 * wind)
    t = tmin + 1.5 * cloud + lift
    crit = -1.0 - 3.0 * (1 - bud)
    damage = 4.0 * (1 + bud) / (1 + np.exp(2.0 * (t - crit)))
    return -damage - 0.35 * a


def draw_reward(F, a):
    return expected_reward(F, a) + rng.normal(0, 0.6, len(a))


FEAT_MU = nights(20000).mean(0)
FEAT_SD = nights(20000).std(0)


class Grower(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.pi = nn.Linear(64, ACTIONS)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


def loss_fn(model, x, a, r, ent_coef):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    pg = -(logp_a * adv).mean()
    vloss = 0.5 * ((v - r) ** 2).mean()
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    return pg + 0.5 * vloss - ent_coef * ent, (pg, vloss, ent)


model = Grower()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, a, r, ent_coef):
    (loss, aux), grads = vg(model, x, a, r, ent_coef)
    opt.update(model, grads)
    return loss, aux


def policy_logits(F):
    logits, _ = model(mx.array((F - FEAT_MU) / FEAT_SD))
    return logits


# held-out nights for the regret of the greedy policy (oracle from the known law)
F_eval = nights(4000)
table = np.stack([expected_reward(F_eval, np.full(len(F_eval), k)) for k in range(ACTIONS)], 1)
oracle = table.max(1).mean()


def greedy_regret():
    a = np.array(mx.argmax(policy_logits(F_eval), axis=-1))
    return float(oracle - table[np.arange(len(a)), a].mean()), np.bincount(a, minlength=ACTIONS)


STEPS, BATCH = 1500, 128
print(f'<run steps="{STEPS}" batch="{BATCH}" actions="{ACTIONS}" oracle_reward="{oracle:.3f}"/>')
for k in range(ACTIONS):
    print(f'<fixed_policy fans="{k}" regret="{oracle - table[:, k].mean():.3f}"/>')
t0 = time.time()
ema, ema_n = 0.0, 0
for it in range(1, STEPS + 1):
    F = nights(BATCH)
    x = mx.array((F - FEAT_MU) / FEAT_SD)
    a = mx.random.categorical(policy_logits(F))
    a_np = np.array(a)
    r = draw_reward(F, a_np).astype(np.float32)
    ent_coef = mx.array(0.05 * max(0.0, 1 - it / 1000), dtype=mx.float32)
    if it == 1:
        (l0, _), g0 = vg(model, x, a, mx.array(r), ent_coef)
        leaves = tree_flatten(g0)
        zero = [kk for kk, g in leaves if float(mx.abs(g).max()) == 0.0]
        print(f'<grad_check leaves="{len(leaves)}" all_zero="{len(zero)}"/>')
        assert not zero
    loss, (pg, vloss, ent) = step(x, a, mx.array(r), ent_coef)
    mx.eval(loss, pg, vloss, ent, model.state, opt.state)
    ema = 0.98 * ema + 0.02 * float(r.mean())
    ema_n += 1
    if it % 150 == 0 or it == 1:
        reg, counts = greedy_regret()
        print(f'<report step="{it}" reward_ema="{ema / (1 - 0.98 ** ema_n):.3f}" '
              f'value_mse="{vloss.item():.3f}" entropy_nats="{ent.item():.3f}" '
              f'ent_coef="{ent_coef.item():.4f}" greedy_regret="{reg:.3f}" '
              f'fans_hist="{"/".join(str(c) for c in counts)}" secs="{time.time() - t0:.1f}"/>')
reg, counts = greedy_regret()
print(f'<done greedy_regret="{reg:.3f}" secs="{time.time() - t0:.1f}"/>')
