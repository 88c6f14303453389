"""Sheepdog trial handler: learn which whistle to give from the flock state.

Contextual bandit trained with REINFORCE + a learned value baseline.
The flock-state encoder is a fixed random-feature layer (frozen on purpose);
only the policy and value heads learn.  Rewards are noisy trial points.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s [%(levelname)s] handler: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("trial")

WHISTLES = ["come-bye", "away", "walk-up", "stand", "lie-down"]
N_FEAT, N_ACT, HID = 6, len(WHISTLES), 64

mx.random.seed(11)
# hidden judge: expected points of each whistle given the flock state
W_true = mx.random.normal((N_FEAT, N_ACT)) * 0.8
b_true = mx.array([0.2, 0.2, 0.0, -0.1, -0.3])


def flock_states(n, key):
    # offset angle, distance, spread, flightiness, wind, dog speed (standardised)
    return mx.random.normal((n, N_FEAT), key=key)


def expected_points(s):
    return mx.tanh(s @ W_true + b_true) + 0.3 * mx.sin(2 * s[:, :1])


class Handler(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(N_FEAT, HID)   # random features, frozen
        self.policy = nn.Linear(HID, N_ACT)
        self.value = nn.Linear(HID, 1)

    def __call__(self, s):
        h = mx.tanh(self.encoder(s) * 1.5)
        return self.policy(h), self.value(h).squeeze(-1)


model = Handler()
model.encoder.freeze()
mx.eval(model.parameters())
enc_before = mx.array(model.encoder.weight)

opt = optim.RMSprop(learning_rate=4e-3, alpha=0.95)
ENT = 0.01


def loss_fn(m, s, a, r):
    logits, v = m(s)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, a[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(r - v)
    pi_loss = -(logp * adv).mean()
    v_loss = 0.5 * ((v - r) ** 2).mean()
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    return pi_loss + v_loss - ENT * ent, (pi_loss, v_loss, ent)


vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def trial_round(s):
    logits, _ = model(s)
    a = mx.random.categorical(logits)
    mu = expected_points(s)
    r = mx.take_along_axis(mu, a[:, None], axis=-1).squeeze(-1)
    r = r + 0.8 * mx.random.normal(r.shape)          # judges disagree
    (loss, (pl, vl, ent)), g = vg(model, s, a, r)
    opt.update(model, g)
    regret = (mu.max(-1) - mx.take_along_axis(mu, a[:, None], -1).squeeze(-1)).mean()
    return r.mean(), regret, pl, vl, ent


# audit: every trainable tensor gets a gradient
s0 = flock_states(128, mx.random.key(0))
a0 = mx.random.randint(0, N_ACT, (128,))
_, g0 = vg(model, s0, a0, expected_points(s0)[:, 0])
from mlx.utils import tree_flatten
for k, v in tree_flatten(g0):
    log.info("grad audit %-16s |g|=%.4f", k, mx.linalg.norm(v).item())

test_s = flock_states(2000, mx.random.key(999))
test_mu = expected_points(test_s)
oracle = test_mu.max(-1).mean().item()
uniform = test_mu.mean().item()
log.info("oracle pts/run %.3f, random whistle %.3f", oracle, uniform)

ROUNDS, BATCH = 3000, 96
hist = []
for rnd in range(1, ROUNDS + 1):
    s = flock_states(BATCH, mx.random.key(rnd))
    out = trial_round(s)
    mx.eval(out, model.parameters(), opt.state)
    hist.append([x.item() for x in out])
    if rnd % 300 == 0:
        w = hist[-300:]
        m = [sum(col) / len(col) for col in zip(*w)]
        log.info("rounds %4d-%4d pts %+.3f regret %.3f pi %+.4f v %.4f H %.3f",
                 rnd - 299, rnd, m[0], m[1], m[2], m[3], m[4])

logits, _ = model(test_s)
greedy = mx.argmax(logits, -1)
agree = (greedy == mx.argmax(test_mu, -1)).mean().item()
greedy_pts = mx.take_along_axis(test_mu, greedy[:, None], -1).mean().item()
drift = mx.abs(model.encoder.weight - enc_before).max().item()
log.info("SUMMARY greedy pts %.3f (oracle %.3f, random %.3f) whistle match %.1f%% "
         "encoder drift %.1e", greedy_pts, oracle, uniform, 100 * agree, drift)
