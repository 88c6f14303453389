"""Advantage actor-critic for a toy server-room cooling damper controller.

Nothing is printed while training: every update writes one row into an
in-memory sqlite table, and the summary at the end is a handful of SQL
queries over that table.
"""
import math
import sqlite3
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_ENVS = 32
HORIZON = 30
UPDATES = 260
GAMMA = 0.9
TARGET_C = 24.0
DAMPER_LEVELS = np.array([0.0, 0.5, 1.0], dtype=np.float32)


class ServerRoom:
    """Batch of independent server rooms; state is (room temp, humidity, outside air temp, IT load)."""

    def __init__(self, n, rng):
        self.n = n
        self.rng = rng

    def reset(self):
        r = self.rng
        self.t_in = r.uniform(18.0, 34.0, self.n).astype(np.float32)
        self.hum = r.uniform(0.4, 0.9, self.n).astype(np.float32)
        self.t_out = r.uniform(8.0, 22.0, self.n).astype(np.float32)
        self.load = r.uniform(0.0, 1.0, self.n).astype(np.float32)
        return self.obs()

    def obs(self):
        return np.stack([
            (self.t_in - TARGET_C) / 5.0,
            (self.hum - 0.65) / 0.15,
            (self.t_out - 15.0) / 5.0,
            self.load * 2.0 - 1.0,
        ], axis=1).astype(np.float32)

    def step(self, action):
        damper = DAMPER_LEVELS[action]
        heat_gain = 2.2 * self.load  # IT load heats the room
        loss_to_out = (0.08 + 0.45 * damper) * (self.t_in - self.t_out)
        self.t_in = self.t_in + heat_gain - loss_to_out + self.rng.normal(0, 0.3, self.n)
        self.hum = np.clip(self.hum + 0.03 - 0.12 * damper + self.rng.normal(0, 0.02, self.n), 0.2, 1.0)
        self.load = np.clip(self.load + self.rng.normal(0, 0.08, self.n), 0.0, 1.0)
        reward = -np.abs(self.t_in - TARGET_C) / 4.0 - 0.8 * np.maximum(self.hum - 0.85, 0.0) - 0.05 * damper
        return self.obs(), reward.astype(np.float32)


class ActorCritic(nn.Module):
    def __init__(self, n_obs=4, n_act=3, hidden=48):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_obs, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.pi = nn.Linear(hidden, n_act)
        self.v = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


def discounted_returns(rewards, last_value):
    out = np.zeros_like(rewards)
    running = last_value
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = rewards[t] + GAMMA * running
        out[t] = running
    return out


def a2c_loss(model, obs, actions, returns):
    logits, values = model(obs)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(returns - values)
    adv = (adv - adv.mean()) / (mx.sqrt(adv.var()) + 1e-6)
    policy_loss = -(logp * adv).mean()
    value_loss = 0.5 * mx.square(returns - values).mean()
    entropy = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    total = policy_loss + 0.5 * value_loss - 0.01 * entropy
    return total, (policy_loss, value_loss, entropy)


def rollout(model, env, rng):
    obs = env.reset()
    obs_buf, act_buf, rew_buf = [], [], []
    for _ in range(HORIZON):
        logits, _ = model(mx.array(obs))
        a = np.array(mx.random.categorical(logits))
        nxt, r = env.step(a)
        obs_buf.append(obs)
        act_buf.append(a)
        rew_buf.append(r)
        obs = nxt
    _, last_v = model(mx.array(obs))
    rews = np.stack(rew_buf)
    rets = discounted_returns(rews, np.array(last_v))
    return (np.concatenate(obs_buf), np.concatenate(act_buf).astype(np.int32),
            rets.reshape(-1).astype(np.float32), rews.sum(0).mean(), env)


def greedy_eval(model, seed, episodes=4):
    env = ServerRoom(64, np.random.default_rng(seed))
    total, in_band = 0.0, 0.0
    for _ in range(episodes):
        obs = env.reset()
        for _ in range(HORIZON):
            logits, _ = model(mx.array(obs))
            obs, r = env.step(np.array(mx.argmax(logits, axis=-1)))
            total += float(r.mean())
            in_band += float((np.abs(env.t_in - TARGET_C) < 2.0).mean())
    return total / episodes, 100.0 * in_band / (episodes * HORIZON)


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE upd (step INTEGER, ret REAL, pol REAL, val REAL, ent REAL, lr REAL, secs REAL)")
    db.execute("CREATE TABLE evals (step INTEGER, greedy_ret REAL, in_band_pct REAL)")

    model = ActorCritic()
    mx.eval(model.parameters())
    sched = optim.cosine_decay(7e-3, UPDATES, 2e-4)
    opt = optim.RMSprop(learning_rate=sched, alpha=0.99, eps=1e-5)
    step_fn = nn.value_and_grad(model, a2c_loss)
    env = ServerRoom(N_ENVS, rng)

    r0, b0 = greedy_eval(model, 999)
    db.execute("INSERT INTO evals VALUES (?,?,?)", (0, r0, b0))
    zero_leaves = None
    t0 = time.perf_counter()
    for step in range(1, UPDATES + 1):
        obs, acts, rets, ep_ret, env = rollout(model, env, rng)
        (loss, (pol, val, ent)), grads = step_fn(model, mx.array(obs), mx.array(acts), mx.array(rets))
        if zero_leaves is None:
            flat = tree_flatten(grads)
            zero_leaves = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            n_leaves = len(flat)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        lr_now = float(sched(step - 1))  # the rate this update uses
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, pol, val, ent)
        db.execute("INSERT INTO upd VALUES (?,?,?,?,?,?,?)",
                   (step, float(ep_ret), pol.item(), val.item(), ent.item(), lr_now, time.perf_counter() - t0))
        if step % 65 == 0:
            g, b = greedy_eval(model, 999)
            db.execute("INSERT INTO evals VALUES (?,?,?)", (step, g, b))

    print(f"server-room damper A2C: {N_ENVS} envs x {HORIZON} steps x {UPDATES} updates, "
          f"{time.perf_counter() - t0:.1f}s")
    print(f"gradient leaves at update 1: {n_leaves} total, zero: {zero_leaves if zero_leaves else 'none'}")
    print("\nmean undiscounted episode return (sampled policy), per block of 26 updates:")
    rows = db.execute("SELECT (step-1)/26 AS blk, MIN(step), MAX(step), AVG(ret), AVG(val), AVG(ent), AVG(lr) "
                      "FROM upd GROUP BY blk ORDER BY blk").fetchall()
    print(f"{'updates':>11} {'return':>9} {'v_loss':>8} {'entropy':>8} {'lr':>9}")
    for _, a, b, r, v, e, lr in rows:
        print(f"{a:>4}-{b:<6} {r:>9.3f} {v:>8.4f} {e:>8.4f} {lr:>9.2e}")
    print("\ngreedy evaluation (64 fresh rooms x 4 episodes; return is per env-episode, "
          "in_band = share of steps within 2 C of target):")
    for s, g, b in db.execute("SELECT step, greedy_ret, in_band_pct FROM evals ORDER BY step"):
        print(f"  after {s:>3} updates: return {g:8.3f}   in_band {b:5.1f}%")
    best = db.execute("SELECT step, ret FROM upd ORDER BY ret DESC LIMIT 1").fetchone()
    print(f"\nbest single update (sampled policy): step {best[0]} return {best[1]:.3f}")
    db.close()


if __name__ == "__main__":
    main()
