"""Songbird stopover departure policy trained with REINFORCE.

Each sample is one night at a stopover site for a migrating warbler.  The
policy sees tailwind, fuel load, cloud cover, days already spent and a
season offset, and picks stay (0) or depart (1).  Departing pays +1 if the
night flight succeeds (probability depends on the weather and fuel) and -1
if the bird has to turn back; staying pays a small amount that shrinks as
the stopover drags on.  Policy-gradient returns are noisy by nature.

The hidden layer passes through a custom-VJP op that is the identity going
forward and clips the incoming gradient elementwise going backward.  The
update step is compiled with the model and optimizer state captured.
Three seeds are run one after the other; output is JSON lines.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLIP = 0.5


@mx.custom_function
def grad_clip_identity(x):
    return x


@grad_clip_identity.vjp
def _gci_vjp(primals, cotangent, output):
    return mx.clip(cotangent, -CLIP, CLIP)


class DeparturePolicy(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(5, 32)
        self.hid = nn.Linear(32, 32)
        self.head = nn.Linear(32, 2)

    def __call__(self, x):
        h = nn.tanh(self.inp(x))
        h = grad_clip_identity(nn.relu(self.hid(h)))
        return self.head(h)


def make_nights(rs, n):
    tail = rs.uniform(-8, 8, n)
    fuel = rs.uniform(0, 1, n)
    cloud = rs.uniform(0, 1, n)
    days = rs.integers(0, 11, n).astype(np.float64)
    season = rs.uniform(-1, 1, n)
    feats = np.stack([tail / 8, fuel * 2 - 1, cloud * 2 - 1, days / 5 - 1, season], 1)
    z = 0.45 * tail + 5.0 * (fuel - 0.45) - 2.5 * cloud + 0.6 * season
    p_ok = 1 / (1 + np.exp(-z))
    stay_pay = 0.25 - 0.06 * days
    return feats.astype(np.float32), p_ok, stay_pay


def expected_reward(actions, p_ok, stay_pay):
    dep = 2 * p_ok - 1
    return float(np.mean(np.where(actions == 1, dep, stay_pay)))


ev_rs = np.random.default_rng(2024)
ev_x, ev_p, ev_s = make_nights(ev_rs, 4000)
oracle = expected_reward((2 * ev_p - 1 > ev_s).astype(int), ev_p, ev_s)
always_stay = expected_reward(np.zeros(4000, int), ev_p, ev_s)
ev_xm = mx.array(ev_x)

ITERS, BATCH = 240, 256
t0 = time.time()
finals = []
for seed in (11, 12, 13):
    mx.random.seed(seed)
    rs = np.random.default_rng(seed)
    policy = DeparturePolicy()
    opt = optim.RMSprop(learning_rate=3e-3)

    def pg_loss(model, x, a, adv, beta):
        logits = model(x)
        logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        lp_a = mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1)
        ent = -mx.sum(mx.exp(logp) * logp, axis=-1).mean()
        return -mx.mean(adv * lp_a) - beta * ent, ent

    vg = nn.value_and_grad(policy, pg_loss)
    state = [policy.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def update(x, a, adv, beta):
        (loss, ent), grads = vg(policy, x, a, adv, beta)
        opt.update(policy, grads)
        return loss, ent

    if seed == 11:
        x0, p0, s0 = make_nights(rs, BATCH)
        a0 = mx.array(rs.integers(0, 2, BATCH).astype(np.int32))
        (_, _), g0 = vg(policy, mx.array(x0), a0,
                        mx.array(rs.normal(size=BATCH).astype(np.float32)), 0.0)
        gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
        print(json.dumps({"event": "grad_audit", "nonzero": sum(v > 0 for v in gn.values()),
                          "tensors": len(gn), "min_norm": round(min(gn.values()), 6)}))

    baseline = 0.0
    for it in range(1, ITERS + 1):
        x, p_ok, stay_pay = make_nights(rs, BATCH)
        xm = mx.array(x)
        logits = policy(xm)
        acts = mx.random.categorical(logits)
        mx.eval(acts)
        a_np = np.array(acts)
        flew_ok = rs.uniform(size=BATCH) < p_ok
        r = np.where(a_np == 1, np.where(flew_ok, 1.0, -1.0), stay_pay)
        adv = (r - baseline).astype(np.float32)
        baseline = 0.9 * baseline + 0.1 * float(r.mean())
        beta = 0.05 * max(0.0, 1.0 - it / 150)
        loss, ent = update(xm, acts.astype(mx.int32), mx.array(adv), mx.array(beta))
        mx.eval(policy.parameters(), opt.state, loss, ent)
        if it % 30 == 0 or it == 1:
            greedy = np.array(mx.argmax(policy(ev_xm), axis=-1))
            er = expected_reward(greedy, ev_p, ev_s)
            print(json.dumps({
                "seed": seed, "iter": it, "batch_return": round(float(r.mean()), 4),
                "pg_loss": round(loss.item(), 4), "entropy": round(ent.item(), 4),
                "beta": round(beta, 4), "greedy_exp_reward": round(er, 4),
                "oracle": round(oracle, 4), "always_stay": round(always_stay, 4),
                "depart_pct": round(100 * float(greedy.mean()), 1)}))
    greedy = np.array(mx.argmax(policy(ev_xm), axis=-1))
    er = expected_reward(greedy, ev_p, ev_s)
    agree = float(np.mean(greedy == (2 * ev_p - 1 > ev_s)))
    finals.append(er)
    print(json.dumps({"event": "seed_done", "seed": seed, "greedy_exp_reward": round(er, 4),
                      "oracle_agreement_pct": round(100 * agree, 1)}))

print(json.dumps({"event": "summary", "mean_greedy_exp_reward": round(float(np.mean(finals)), 4),
                  "oracle": round(oracle, 4), "always_stay": round(always_stay, 4),
                  "wall_s": round(time.time() - t0, 1)}))
