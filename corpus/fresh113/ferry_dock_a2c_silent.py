"""Advantage actor-critic on a slippery ferry-dock corridor.

A deckhand starts at berth 3 of a 12-berth pier.  Berth 0 holds a small tip (+0.4), berth 11
the ferry (+1.0); each move costs 0.01 and the planks are slippery (25 % of moves go the
other way).  Episodes end at either end or after 40 moves.  64 episodes run side by side
(numpy), the policy and value heads share a small trunk.  The run is silent while it trains
and prints one summary table at the end.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_POS, START, HORIZON, SLIP = 12, 3, 40, 0.25
R_LEFT, R_RIGHT, STEP_COST = 0.4, 1.0, 0.01
N_ENV, GAMMA = 64, 0.97


class Pier:
    def __init__(self, n, rng):
        self.n, self.rng = n, rng

    def reset(self):
        self.pos = np.full(self.n, START)
        self.t = np.zeros(self.n, dtype=np.int64)
        self.done = np.zeros(self.n, dtype=bool)
        return self.obs()

    def obs(self):
        o = np.zeros((self.n, N_POS + 1), dtype=np.float32)
        o[np.arange(self.n), self.pos] = 1.0
        o[:, N_POS] = self.t / HORIZON
        return o

    def step(self, action):
        move = np.where(action == 1, 1, -1)
        slip = self.rng.random(self.n) < SLIP
        move = np.where(slip, -move, move)
        alive = ~self.done
        self.pos = np.where(alive, np.clip(self.pos + move, 0, N_POS - 1), self.pos)
        self.t = self.t + alive
        r = np.where(alive, -STEP_COST, 0.0)
        r = r + np.where(alive & (self.pos == 0), R_LEFT, 0.0)
        r = r + np.where(alive & (self.pos == N_POS - 1), R_RIGHT, 0.0)
        ended = alive & ((self.pos == 0) | (self.pos == N_POS - 1) | (self.t >= HORIZON))
        self.done = self.done | ended
        return self.obs(), r.astype(np.float32), alive


class ActorCritic(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_POS + 1, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, 2)
        self.v = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.pi(h), self.v(h).squeeze(-1)


def a2c_loss(model, obs, act, ret, mask, ent_coef):
    logits, value = model(obs)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, act[..., None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(ret - value)
    n = mx.maximum(mask.sum(), 1.0)
    policy = -(logp * adv * mask).sum() / n
    vloss = 0.5 * (((ret - value) ** 2) * mask).sum() / n
    entropy = (-(mx.exp(logp_all) * logp_all).sum(-1) * mask).sum() / n
    total = policy + 0.5 * vloss - ent_coef * entropy
    return total, (policy, vloss, entropy)


def rollout(model, env, rng):
    obs = env.reset()
    O, A, R, M = [], [], [], []
    for _ in range(HORIZON):
        logits, _ = model(mx.array(obs))
        probs = np.array(mx.softmax(logits, axis=-1))
        act = (rng.random(N_ENV) < probs[:, 1]).astype(np.int32)
        nxt, r, alive = env.step(act)
        O.append(obs); A.append(act); R.append(r); M.append(alive.astype(np.float32))
        obs = nxt
        if env.done.all():
            break
    R = np.stack(R); M = np.stack(M)
    G = np.zeros_like(R)
    running = np.zeros(N_ENV, dtype=np.float32)
    for t in range(len(R) - 1, -1, -1):
        running = R[t] + GAMMA * running * M[t]
        G[t] = running
    undiscounted = R.sum(0).mean()
    reached_ferry = float((env.pos == N_POS - 1).mean())
    return (mx.array(np.stack(O)), mx.array(np.stack(A)), mx.array(G), mx.array(M),
            undiscounted, reached_ferry)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    env = Pier(N_ENV, rng)
    model = ActorCritic()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    grad_fn = nn.value_and_grad(model, a2c_loss)

    n_updates = 600
    history = []
    t0 = time.perf_counter()
    for upd in range(1, n_updates + 1):
        ent_coef = 0.02 * (1 - upd / n_updates)
        obs, act, ret, mask, mean_ret, ferry = rollout(model, env, rng)
        (loss, (pl, vl, ent)), grads = grad_fn(model, obs, act, ret, mask, ent_coef)
        if upd == 1:
            flat = tree_flatten(grads)
            zero_leaves = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
            audit = (len(flat), zero_leaves)
        grads, gnorm = optim.clip_grad_norm(grads, 0.5)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, pl, vl, ent, gnorm)
        history.append((upd, mean_ret, ferry, pl.item(), vl.item(), ent.item(), gnorm.item()))

    secs = time.perf_counter() - t0
    print(f"ferry-dock A2C: {N_ENV} envs x {n_updates} updates, {secs:.1f}s")
    print(f"first-update gradient audit: {audit[0]} leaves, zero leaves: {audit[1] or 'none'}")
    for name, a in (("always-right", 1), ("always-left", 0)):
        sim = Pier(4096, np.random.default_rng(99))
        sim.reset()
        tot = np.zeros(4096)
        while not sim.done.all():
            _, r, _ = sim.step(np.full(4096, a))
            tot += r
        print(f"reference: {name} policy returns {tot.mean():.3f} on average")
    print()
    print(f"{'updates':>9} {'return':>8} {'ferry %':>8} {'policy':>9} {'value':>8} {'entropy':>8} {'|g|':>7}")
    for lo in range(0, n_updates, 60):
        chunk = np.array([h[1:] for h in history[lo:lo + 60]])
        m = chunk.mean(0)
        print(f"{lo + 1:>4}-{lo + 60:<4} {m[0]:8.3f} {100 * m[1]:7.1f}% {m[2]:9.4f} {m[3]:8.4f} "
              f"{m[4]:8.3f} {m[5]:7.3f}")

    # greedy check of the learned policy at every berth
    probe = np.zeros((N_POS, N_POS + 1), dtype=np.float32)
    probe[np.arange(N_POS), np.arange(N_POS)] = 1.0
    logits, value = model(mx.array(probe))
    p_right = np.array(mx.softmax(logits, axis=-1)[:, 1])
    print()
    print("berth  p(right)  V")
    for b in range(1, N_POS - 1):
        print(f"{b:5d}  {p_right[b]:8.3f}  {float(value[b]):.3f}")


if __name__ == "__main__":
    main()
