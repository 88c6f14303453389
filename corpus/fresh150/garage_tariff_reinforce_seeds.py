# Multi-storey car park: learn an hourly tariff policy (5 price levels) from
# simulated demand.  Contextual-bandit REINFORCE with a learned baseline,
# entropy bonus annealed to zero, three independent seeds.
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PRICES = np.array([1.0, 2.0, 3.0, 4.5, 6.0], dtype=np.float32)   # EUR / hour
SPACES = 400
ITERS, BATCH = 240, 256

group = mx.distributed.init()          # single process here; keeps the script multi-host ready


def draw_contexts(rng, n):
    hour = rng.integers(6, 23, n)
    weekend = (rng.random(n) < 2 / 7).astype(np.float32)
    event = (rng.random(n) < 0.12).astype(np.float32)
    occ = np.clip(rng.beta(2, 3, n), 0, 1).astype(np.float32)
    feats = np.stack([np.sin(2 * math.pi * hour / 24), np.cos(2 * math.pi * hour / 24), weekend, event, occ], 1)
    return hour, weekend, event, occ, feats.astype(np.float32)


def expected_revenue(hour, weekend, event, occ):
    """Revenue (EUR/h) for every price level, shape (n, 5): price x cars that both arrive and find a space."""
    base = 140 + 160 * np.exp(-((hour - 10.5) / 2.2) ** 2) + 120 * np.exp(-((hour - 17.5) / 2.0) ** 2)
    base = base * (1 - 0.35 * weekend) * (1 + 1.4 * event)
    elastic = 0.55 - 0.25 * event + 0.15 * weekend
    arrivals = base[:, None] * np.exp(-elastic[:, None] * PRICES[None, :])
    free = SPACES * (1 - occ)[:, None]
    return PRICES[None, :] * np.minimum(arrivals, free)


class Tariff(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.policy = nn.Linear(48, len(PRICES))
        self.value = nn.Linear(48, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.policy(h), self.value(h).squeeze(-1)


def pg_loss(model, x, actions, reward, ent_coef):
    logits, v = model(x)
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    lp_a = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(reward - v)
    entropy = -(mx.exp(logp) * logp).sum(-1).mean()
    policy_term = -(lp_a * adv).mean()
    value_term = 0.5 * ((v - reward) ** 2).mean()
    return policy_term + value_term - ent_coef * entropy, (policy_term, value_term, entropy)


def run_seed(seed):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    model = Tariff()
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
    vg = nn.value_and_grad(model, pg_loss)

    # fixed evaluation set of 2000 contexts, with the flat-tariff and oracle references
    eh, ew, ee, eo, ef = draw_contexts(rng, 2000)
    e_rev = expected_revenue(eh, ew, ee, eo)
    flat3 = e_rev[:, 2].mean()
    oracle = e_rev.max(1).mean()
    e_x = mx.array(ef)

    print(f"\n== seed {seed} ==  flat 3.00 EUR/h tariff: {flat3:7.1f}   oracle: {oracle:7.1f}   (EUR per hour)")
    print(f"{'iter':>5} | {'revenue':>8} | {'of oracle':>9} | {'entropy':>7} | {'value mse':>9} | {'ent coef':>8}")
    print("-" * 62)
    checked = False
    for it in range(1, ITERS + 1):
        h, w, e, o, f = draw_contexts(rng, BATCH)
        x = mx.array(f)
        logits, _ = model(x)
        a = mx.random.categorical(logits)
        a_np = np.array(a)
        rev = expected_revenue(h, w, e, o)[np.arange(BATCH), a_np]
        rev = rev * rng.lognormal(0, 0.25, BATCH)          # weather, noise in the meters
        reward = mx.array((rev / 300.0).astype(np.float32))
        ent_coef = 0.05 * max(0.0, 1 - it / (0.6 * ITERS))
        (loss, (pt, vt, ent)), grads = vg(model, x, a, reward, ent_coef)
        grads = nn.average_gradients(grads, group=group)
        if not checked:
            zeros = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0]
            print(f"      grad check: {len(tree_flatten(grads))} tensors, zero-gradient tensors: {zeros or 'none'}")
            checked = True
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % 40 == 0:
            p = mx.softmax(model(e_x)[0], axis=-1)
            rev_pol = float((np.array(p) * e_rev).sum(1).mean())
            print(f"{it:>5} | {rev_pol:8.1f} | {100 * rev_pol / oracle:8.1f}% | {ent.item():7.3f} | "
                  f"{vt.item() * 2:9.4f} | {ent_coef:8.4f}")
    greedy = np.array(mx.argmax(model(e_x)[0], axis=-1))
    g_rev = e_rev[np.arange(len(greedy)), greedy].mean()
    share = np.bincount(greedy, minlength=len(PRICES)) / len(greedy)
    print(f"greedy tariff: {g_rev:.1f} EUR/h = {100 * g_rev / oracle:.1f}% of oracle, "
          f"{100 * g_rev / flat3 - 100:+.1f}% vs flat; price mix " +
          " ".join(f"{pr:.1f}:{s:.0%}" for pr, s in zip(PRICES, share)))
    return g_rev / oracle


results = [run_seed(s) for s in (11, 12, 13)]
print(f"\nseeds done: greedy/oracle = {np.mean(results):.3f} +- {np.std(results):.3f}  (world size {group.size()})")
