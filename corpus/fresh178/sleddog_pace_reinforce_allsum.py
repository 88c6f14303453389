"""Musher's pace policy for a sled-dog team, trained with REINFORCE.

Each leg the musher sees trail/weather/team readings and picks one of five
paces.  Reward = km covered in the next hour, minus a heavy penalty when the
pace burns the team out.  Gradients are averaged across workers with
mx.distributed (here a single worker).  Two seeds are trained in turn.
"""
import json
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

world = mx.distributed.init()
RANK, WORLD = world.rank(), world.size()

PACE_KMH = np.array([8.0, 11.0, 14.0, 17.0, 20.0])
N_CTX = 6


def sample_legs(rng, n):
    snow = rng.uniform(0, 1, n)        # fresh-snow depth (0..1 -> 0..60 cm)
    temp = rng.uniform(-1, 1, n)       # air temperature (scaled, +1 = thaw)
    grade = rng.uniform(-1, 1, n)      # climb (+) / descent (-)
    fatigue = rng.uniform(0, 1, n)     # team fatigue index
    remain = rng.uniform(0, 1, n)      # share of the race left
    wind = rng.uniform(-1, 1, n)       # headwind (+)
    ctx = np.stack([snow, temp, grade, fatigue, remain, wind], 1).astype(np.float32)
    # speed the team can sustain without burning out
    safe = 19.0 - 7.0 * snow - 3.0 * np.maximum(temp, 0) - 4.0 * grade - 6.0 * fatigue - 2.0 * wind
    return ctx, safe


def expected_reward(safe, a):
    pace = PACE_KMH[a]
    over = np.maximum(pace - safe, 0.0)
    return pace - 2.5 * over ** 1.2


def reward(rng, safe, a):
    return expected_reward(safe, a) + rng.normal(0, 2.0, len(a))


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_CTX, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, len(PACE_KMH))

    def __call__(self, x):
        return self.head(nn.tanh(self.l2(nn.tanh(self.l1(x)))))


def pg_loss(pol, ctx, act, adv, ent_coef):
    logits = pol(ctx)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    chosen = mx.take_along_axis(logp, act[:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    return -(chosen * adv).mean() - ent_coef * ent, ent


def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g) / WORLD, grads)


ITERS, BATCH, WARM = 300, 256, 40
summary = []
for seed in (11, 29):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    pol = Policy()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, ITERS - WARM, 3e-4)], [WARM])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    vg = nn.value_and_grad(pol, pg_loss)

    # fixed evaluation legs, with the oracle (best expected pace) and a coin-flip musher as references
    ev_ctx, ev_safe = sample_legs(np.random.default_rng(1000 + seed), 2000)
    all_r = np.stack([expected_reward(ev_safe, np.full(2000, k)) for k in range(5)], 1)
    oracle = float(all_r.max(1).mean())
    uniform = float(all_r.mean(1).mean())
    ev_x = mx.array(ev_ctx)

    baseline = 0.0
    for it in range(ITERS + 1):
        ctx, safe = sample_legs(rng, BATCH)
        x = mx.array(ctx)
        act = mx.random.categorical(pol(x))
        a_np = np.array(act)
        r = reward(rng, safe, a_np)
        baseline = r.mean() if it == 0 else 0.9 * baseline + 0.1 * r.mean()
        adv = (r - baseline) / (r.std() + 1e-6)
        ent_coef = 0.02 * max(0.0, 1.0 - it / 200)
        (loss, ent), grads = vg(pol, x, act, mx.array(adv.astype(np.float32)), ent_coef)
        if it == 0:
            dead = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            print(json.dumps({"event": "gradcheck", "seed": seed, "tensors": len(tree_flatten(grads)),
                              "all_zero": dead, "world": WORLD, "rank": RANK}))
        lr_now = float(opt.learning_rate)
        opt.update(pol, allreduce_mean(grads))
        mx.eval(pol.parameters(), opt.state, loss, ent)
        if it % 25 == 0:
            greedy = np.array(mx.argmax(pol(ev_x), axis=-1))
            ev = float(all_r[np.arange(2000), greedy].mean())
            print(json.dumps({"seed": seed, "it": it, "lr": round(lr_now, 6),
                              "batch_km": round(float(r.mean()), 3),
                              "greedy_km": round(ev, 3), "oracle_km": round(oracle, 3),
                              "coinflip_km": round(uniform, 3),
                              "regret_pct": round(100 * (oracle - ev) / oracle, 2),
                              "entropy": round(float(ent), 4), "pg_loss": round(float(loss), 4)}))
            sys.stdout.flush()
    summary.append({"seed": seed, "greedy_km": round(ev, 3), "oracle_km": round(oracle, 3),
                    "regret_pct": round(100 * (oracle - ev) / oracle, 2)})

print(json.dumps({"event": "summary", "runs": summary}))
