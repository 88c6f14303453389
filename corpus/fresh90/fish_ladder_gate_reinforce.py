"""Fish ladder gate operator: a contextual-bandit policy picks one of four gate
openings from the river state and is trained with REINFORCE plus a learned
baseline.  The reward (fish passed per 10 minutes, minus a spill penalty) is
noisy, so per-batch rewards wobble; the held-out regret against the oracle
gate choice is what should fall.

The hour-of-day code is a FIXED sinusoidal embedding table, frozen on purpose.
No mlx.optimizers: a small RMSprop written over tree_map.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

OPENINGS = np.array([0.10, 0.30, 0.60, 0.90])   # gate opening fraction


def river_states(n, rng):
    flow = rng.lognormal(mean=3.0, sigma=0.35, size=n)          # m3/s
    temp = rng.normal(12.0, 3.0, n)                              # C
    turb = rng.gamma(2.0, 4.0, n)                                # NTU
    queue = rng.poisson(rng.uniform(2, 30, n))                   # fish counted below the weir
    hour = rng.integers(0, 24, n)
    feats = np.stack([(np.log(flow) - 3.0) / 0.35, (temp - 12) / 3,
                      turb / 8 - 1, queue / 15 - 1], 1).astype(np.float32)
    return feats, hour.astype(np.int32), (flow, temp, turb, queue, hour)


def expected_reward(raw):
    """Made-up passage law: fish need attraction flow but too much velocity stops
    them; dawn/dusk are busy; spill costs water at low river flow."""
    flow, temp, turb, queue, hour = raw
    busy = 1.0 + 0.8 * np.exp(-((hour - 6) % 24 - 0) ** 2 / 8) + 0.6 * np.exp(-((hour - 20) % 24) ** 2 / 8)
    best = np.clip(0.9 - 0.012 * (flow - 15) + 0.01 * (turb - 8), 0.1, 0.9)   # ideal opening
    o = OPENINGS[None, :]
    passage = queue[:, None] * busy[:, None] * np.exp(-((o - best[:, None]) ** 2) / 0.05) / 10
    warm = np.clip(1.0 - 0.05 * np.maximum(temp - 16, 0), 0.5, 1.0)[:, None]
    spill = 1.2 * o * np.clip(25 - flow, 0, None)[:, None] / 25
    return passage * warm - spill                                   # (n, 4)


class GatePolicy(nn.Module):
    def __init__(self, d_feat, width=64):
        super().__init__()
        self.hour_code = nn.Embedding(24, 6)
        t = np.arange(24)[:, None] * 2 * math.pi / 24
        k = np.array([1, 2, 3])[None, :]
        self.hour_code.weight = mx.array(np.concatenate([np.sin(t * k), np.cos(t * k)], 1).astype(np.float32))
        self.trunk1 = nn.Linear(d_feat + 6, width)
        self.trunk2 = nn.Linear(width, width)
        self.policy = nn.Linear(width, len(OPENINGS))
        self.value = nn.Linear(width, 1)

    def __call__(self, x, hour):
        h = mx.concatenate([x, self.hour_code(hour)], axis=-1)
        h = mx.tanh(self.trunk1(h))
        h = mx.tanh(self.trunk2(h))
        return self.policy(h), self.value(h).squeeze(-1)


def reinforce_loss(model, x, hour, action, reward, ent_coef):
    logits, v = model(x, hour)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, action[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(reward - v)
    entropy = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    pg = -(adv * logp).mean()
    vloss = ((v - reward) ** 2).mean()
    return pg + 0.5 * vloss - ent_coef * entropy, (vloss, entropy)


class HandRMSprop:
    def __init__(self, lr, alpha=0.99, eps=1e-8):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = None

    def step(self, model, grads):
        if self.sq is None:
            self.sq = tree_map(mx.zeros_like, grads)
        self.sq = tree_map(lambda s, g: self.alpha * s + (1 - self.alpha) * g * g, self.sq, grads)
        new = tree_map(lambda p, g, s: p - self.lr * g / (mx.sqrt(s) + self.eps),
                       model.trainable_parameters(), grads, self.sq)
        model.update(new)


def regret_pct(model, x, hour, table):
    logits, _ = model(mx.array(x), mx.array(hour))
    probs = np.array(mx.softmax(logits, axis=-1))
    greedy = probs.argmax(1)
    oracle = table.max(1).mean()
    got_greedy = table[np.arange(len(table)), greedy].mean()
    got_stoch = (probs * table).sum(1).mean()
    return 100 * (oracle - got_greedy) / oracle, 100 * (oracle - got_stoch) / oracle


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xe, he, raw_e = river_states(5000, rng)
    table_e = expected_reward(raw_e)
    uniform_pct = 100 * (table_e.max(1).mean() - table_e.mean()) / table_e.max(1).mean()
    print(f"held-out river states: 5000; oracle mean reward {table_e.max(1).mean():.3f} fish/10min; "
          f"uniform-random gate regret {uniform_pct:.1f} %")

    model = GatePolicy(xe.shape[1])
    model.hour_code.freeze()
    mx.eval(model.parameters())
    frozen_before = np.array(model.hour_code.weight)
    opt = HandRMSprop(lr=2e-4)
    grad_fn = nn.value_and_grad(model, reinforce_loss)

    rounds, bs = 40, 256
    steps_per_round = 30
    t0 = time.perf_counter()
    g_rep, s_rep = regret_pct(model, xe, he, table_e)
    print(f"round 0: untrained policy regret greedy {g_rep:.1f} %  stochastic {s_rep:.1f} %")
    for rnd in range(1, rounds + 1):
        ent_coef = 0.03 * max(0.0, 1.0 - (rnd - 1) / 25)      # entropy bonus annealed to 0
        rewards_seen = []
        for k in range(steps_per_round):
            x, h, raw = river_states(bs, rng)
            table = expected_reward(raw)
            xm, hm = mx.array(x), mx.array(h)
            logits, _ = model(xm, hm)
            a = mx.random.categorical(logits)                   # sample the gate opening
            a_np = np.array(a)
            r = table[np.arange(bs), a_np] + rng.normal(0, 1.5, bs)  # noisy count
            (loss, (vloss, ent)), grads = grad_fn(model, xm, hm, a, mx.array(r.astype(np.float32)),
                                                  mx.array(ent_coef))
            if rnd == 1 and k == 0:
                leaves = tree_flatten(grads)
                zero = [n for n, g in leaves if float(mx.abs(g).max()) == 0.0]
                print(f"  first step: {len(leaves)} trainable gradient leaves (hour table frozen), "
                      f"all-zero: {zero}")
            opt.step(model, grads)
            mx.eval(model.parameters(), opt.sq, loss, vloss, ent)
            rewards_seen.append(r.mean())
        if rnd % 5 == 0 or rnd == 1:
            g_rep, s_rep = regret_pct(model, xe, he, table_e)
            print(f"round {rnd}:")
            print(f"  batch reward (noisy, higher is better) ... {np.mean(rewards_seen):7.3f} fish/10min")
            print(f"  baseline value mse ....................... {vloss.item():7.3f}")
            print(f"  policy entropy ........................... {ent.item():7.3f} nats (max {math.log(4):.3f})")
            print(f"  entropy bonus coefficient ................ {ent_coef:7.4f}")
            print(f"  held-out regret, greedy (lower better) ... {g_rep:7.1f} %")
            print(f"  held-out regret, sampled (lower better) .. {s_rep:7.1f} %")
            print(f"  elapsed .................................. {time.perf_counter() - t0:7.1f} s")
            sys.stdout.flush()

    drift = float(np.abs(np.array(model.hour_code.weight) - frozen_before).max())
    print(f"finished {rounds * steps_per_round} updates; frozen hour table max change {drift:.1e}")


if __name__ == "__main__":
    main()
