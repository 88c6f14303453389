"""Canal lock keeper: learn when to fill, empty or hold the lock chamber.

Contextual bandit. Each decision sees: boats waiting above, boats waiting
below, chamber level (0 = low, 1 = high), a rain flag, and the hour. The reward
is the boats passed in the next cycle minus the water/time cost, with noise.
Policy-gradient (REINFORCE) with a learned baseline; a hand-written RMSprop.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

ACTIONS = ["fill", "empty", "hold"]


def sample_context(n, rng):
    up = rng.poisson(1.6, n).clip(0, 6)
    down = rng.poisson(1.6, n).clip(0, 6)
    level = rng.integers(0, 2, n)
    rain = (rng.random(n) < 0.25).astype(float)
    hour = rng.uniform(6, 21, n)
    return np.stack([up, down, level, rain, hour], 1).astype(np.float32)


def expected_reward(ctx):
    """Mean reward of every action for every context, shape (n, 3)."""
    up, down, level, rain, hour = ctx.T
    water = 0.35 * (1.0 - 0.7 * rain)  # a fill costs less water after rain
    late = (hour > 19).astype(float) * 0.4  # a late cycle keeps the keeper out
    # fill from low: boats below come up; fill when already high: wasted cycle
    fill = np.where(level == 0, 0.5 * np.minimum(down, 3), -0.2) - water - late
    # empty from high: boats above go down; emptying costs no pumping
    empty = np.where(level == 1, 0.5 * np.minimum(up, 3), -0.2) - 0.05 - late
    # holding only pays when nobody waits; each waiting boat costs a little
    hold = 0.1 * (up + down == 0) - 0.05 * (up + down)
    return np.stack([fill, empty, hold], 1)


def featurise(ctx):
    up, down, level, rain, hour = ctx.T
    return np.stack([up / 3.0, down / 3.0, level * 2 - 1, rain * 2 - 1,
                     (hour - 13.5) / 4.5, (hour > 19) * 2.0 - 1], 1).astype(np.float32)


class Keeper(nn.Module):
    def __init__(self, d_in=6, hidden=32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, len(ACTIONS))
        self.v = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


class HandRMSprop:
    """RMSprop over the flattened parameter list (no tree_map)."""

    def __init__(self, lr, alpha=0.99, eps=1e-6):
        self.lr, self.alpha, self.eps = lr, alpha, eps
        self.sq = {}

    def apply(self, model, grads):
        new = []
        params = dict(tree_flatten(model.trainable_parameters()))
        for name, g in tree_flatten(grads):
            s = self.sq.get(name, mx.zeros_like(g))
            s = self.alpha * s + (1 - self.alpha) * g * g
            self.sq[name] = s
            new.append((name, params[name] - self.lr * g / (mx.sqrt(s) + self.eps)))
        model.update(tree_unflatten(new))

    def arrays(self):
        return list(self.sq.values())


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    model = Keeper()
    mx.eval(model.parameters())
    opt = HandRMSprop(lr=1e-3)
    batch, updates, ent_coef, report = 256, 1400, 0.03, 100

    def loss_fn(m, x, a, r):
        logits, v = m(x)
        logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
        logp = mx.take_along_axis(logp_all, a[:, None], axis=-1).squeeze(-1)
        adv = mx.stop_gradient(r - v)
        pg = -(logp * adv).mean()
        value = ((v - r) ** 2).mean()
        ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
        return pg + 0.5 * value - ent_coef * ent, (pg, value, ent)

    grad_fn = nn.value_and_grad(model, loss_fn)

    # held-out contexts for the greedy-policy check (exact expected rewards)
    test_ctx = sample_context(4000, rng)
    test_x = mx.array(featurise(test_ctx))
    test_er = expected_reward(test_ctx)
    oracle = test_er.max(1).mean()
    uniform = test_er.mean(1).mean()

    print(f"lock keeper bandit: {batch} decisions per update, {updates} updates")
    print(f"expected reward per decision: oracle {oracle:+.3f}  uniform-random {uniform:+.3f}")
    print(f"{'upd':>5} {'reward':>8} {'pg loss':>8} {'v mse':>7} {'entropy':>8} "
          f"{'greedy':>8} {'regret':>7} {'oracle-act':>10} {'sec':>5}")

    t0 = time.perf_counter()
    window = []
    for u in range(1, updates + 1):
        ctx = sample_context(batch, rng)
        x = mx.array(featurise(ctx))
        logits, _ = model(x)
        probs = np.array(mx.softmax(logits, axis=-1), dtype=np.float64)
        probs /= probs.sum(1, keepdims=True)
        a = np.array([rng.choice(3, p=p) for p in probs])
        r = expected_reward(ctx)[np.arange(batch), a] + rng.normal(0, 0.6, batch)
        (loss, (pg, vl, ent)), grads = grad_fn(model, x, mx.array(a), mx.array(r.astype(np.float32)))
        if u == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if not bool(mx.any(g != 0))]
            print(f"# first update: {len(flat)} gradient arrays, all-zero: {zero if zero else 'none'}")
        opt.apply(model, grads)
        mx.eval(model.parameters(), opt.arrays(), loss, pg, vl, ent)
        window.append((r.mean(), pg.item(), vl.item(), ent.item()))
        if u % report == 0:
            w = np.array(window)
            window = []
            greedy = np.array(mx.argmax(model(test_x)[0], axis=-1))
            g_rew = test_er[np.arange(len(greedy)), greedy].mean()
            agree = (greedy == test_er.argmax(1)).mean() * 100
            print(f"{u:>5} {w[:, 0].mean():>+8.3f} {w[:, 1].mean():>+8.3f} {w[:, 2].mean():>7.3f} "
                  f"{w[:, 3].mean():>8.3f} {g_rew:>+8.3f} {oracle - g_rew:>7.3f} {agree:>9.1f}% "
                  f"{time.perf_counter() - t0:>5.1f}")

    # per-situation read-out of the learned policy
    print("\nlearned greedy action (no rain, 10:00):")
    for level in (0, 1):
        row = []
        for up, down in ((0, 0), (0, 3), (3, 0), (2, 2)):
            c = np.array([[up, down, level, 0, 10.0]], np.float32)
            act = int(mx.argmax(model(mx.array(featurise(c)))[0], axis=-1).item())
            best = int(expected_reward(c).argmax())
            row.append(f"up{up}/down{down}: {ACTIONS[act]}{'' if act == best else ' (oracle ' + ACTIONS[best] + ')'}")
        print(f"  chamber {'high' if level else 'low '} | " + " | ".join(row))


if __name__ == "__main__":
    main()
