"""Harbour tug dispatch as a contextual bandit, trained with REINFORCE.

Each arriving ship (wind, gust, current, draught, length, berth angle, visibility,
tide height) needs one of 5 tug plans: 1 tug bow / 2 tugs bow+stern / 2 tugs +
line boat / 3 tugs / wait for slack water.  The berthing score (0-100, noisy) is
simulated by a made-up harbour-master law.  Policy gradient with a moving-average
baseline and an entropy bonus; gradients go through mx.distributed.all_sum (a one-process
group here, so the sum is the identity); the train step is mx.compile'd with the model,
optimizer and RNG state captured.  Two seeds, each starting its own counters.
Prints JSON lines.
"""
import json
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
WORLD = group.size()

N_ACT = 5
TUGS = np.array([1.0, 2.0, 2.5, 3.0, 0.0], np.float32)     # cost in tug-units
W_SCORE = np.random.default_rng(7).normal(0, 1, (8, N_ACT)).astype(np.float32)


def sample_ships(rng, n):
    c = rng.normal(0, 1, (n, 8)).astype(np.float32)
    return c


def true_score(c, a):
    """Expected berthing score for context rows c and action ids a (numpy)."""
    wind, gust, current, draught, length, angle, vis, tide = c.T
    difficulty = 0.9 * wind + 0.5 * np.maximum(gust, 0) + 0.7 * np.abs(current) + 0.4 * length + 0.3 * angle
    need = np.clip(np.round(1.5 + 0.8 * difficulty), 0, 3)          # tugs really needed
    tugs = TUGS[a]
    base = 78 - 9.0 * np.abs(tugs - need) - 2.0 * tugs              # too few is bad, too many costs
    line_boat_bonus = np.where((a == 2) & (vis < -0.5), 10.0, 0.0)   # fog: a line boat helps
    wait = a == 4
    wait_score = 70 - 12 * np.maximum(tide, 0) - 6 * (draught > 0.8)  # waiting works at low water
    s = np.where(wait, wait_score, base + line_boat_bonus)
    s = s + 0.6 * (c @ W_SCORE)[np.arange(len(a)), a]
    return s.astype(np.float32)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = nn.Linear(8, 64)
        self.h2 = nn.Linear(64, 64)
        self.pi = nn.Linear(64, N_ACT)

    def __call__(self, x):
        return self.pi(nn.relu(self.h2(nn.relu(self.h1(x)))))


def run(seed, iters=300, batch=256, ent_coef=0.02):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    policy = Policy()
    mx.eval(policy.parameters())
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.95)
    state = [policy.state, opt.state, mx.random.state]

    def pg_loss(model, ctx, acts, adv):
        logp_all = nn.log_softmax(model(ctx), axis=-1)
        logp = mx.take_along_axis(logp_all, acts[:, None], axis=-1).squeeze(-1)
        entropy = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
        return -(logp * adv).mean() - ent_coef * entropy, entropy

    grad_fn = nn.value_and_grad(policy, pg_loss)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(ctx, acts, adv):
        (loss, ent), grads = grad_fn(policy, ctx, acts, adv)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
        opt.update(policy, grads)
        return loss, ent

    baseline = None
    t0 = time.time()
    # held-out ships for the greedy check
    c_eval = sample_ships(rng, 2000)
    all_a = np.stack([true_score(c_eval, np.full(2000, k)) for k in range(N_ACT)], 1)
    oracle = float(all_a.max(1).mean())
    fixed = float(all_a[:, 1].mean())          # "always send two tugs" house rule
    for it in range(iters + 1):
        ctx_np = sample_ships(rng, batch)
        ctx = mx.array(ctx_np)
        acts = mx.random.categorical(policy(ctx))
        a_np = np.array(acts)
        r = true_score(ctx_np, a_np) + rng.normal(0, 6.0, batch).astype(np.float32)
        mean_r = float(r.mean())
        baseline = mean_r if baseline is None else 0.9 * baseline + 0.1 * mean_r
        adv = mx.array((r - baseline) / 10.0)
        loss, ent = step(ctx, acts, adv)
        mx.eval(loss, ent, policy.parameters(), opt.state)
        if it % 20 == 0:
            greedy = np.array(mx.argmax(policy(mx.array(c_eval)), axis=-1))
            g_score = float(all_a[np.arange(2000), greedy].mean())
            print(json.dumps({
                "seed": seed, "iter": it, "sampled_score": round(mean_r, 2),
                "greedy_score": round(g_score, 2), "two_tug_rule": round(fixed, 2),
                "oracle": round(oracle, 2), "regret_pct": round(100 * (oracle - g_score) / oracle, 2),
                "entropy_nats": round(ent.item(), 3), "pg_loss": round(loss.item(), 4),
                "wall_s": round(time.time() - t0, 2)}), flush=True)
    return g_score, oracle


if __name__ == "__main__":
    print(json.dumps({"event": "start", "world_size": WORLD, "actions": N_ACT}))
    res = [run(s) for s in (11, 12)]
    print(json.dumps({"event": "summary",
                      "greedy_scores": [round(g, 2) for g, _ in res],
                      "oracle": [round(o, 2) for _, o in res]}))
