"""Orchard drip-irrigation: fit the value head (critic) of a PPO agent.

A hand-written, unchanging behaviour policy waters 24 orchard rows (vectorised numpy env).
Each iteration collects a fresh rollout, builds GAE(lambda) targets with the
current critic, then runs PPO-style clipped value regression for several
epochs of minibatches. The learning rate warms up from exactly 0 over the
first 3 iterations; training is split into two sessions with a checkpoint
written after iteration 14 and restored into fresh objects for session 2.
Rewards are costs (always negative), so values are negative too.
"""

import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_ENVS = 24
HORIZON = 48
GAMMA = 0.97
LAM = 0.92
EPOCHS = 4
MINIBATCH = 192
VCLIP = 0.5
ITERS = 36
SPLIT_AT = 14
BASE_LR = 2e-3


class Orchard:
    """Soil moisture per row; actions 0/1/2 = no / short / long watering."""

    def __init__(self, n, seed):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.reset_all()

    def reset_all(self):
        self.moist = self.rng.uniform(0.3, 0.7, self.n)
        self.heat = self.rng.uniform(0.0, 1.0, self.n)
        self.t = np.zeros(self.n, dtype=np.int64)

    def obs(self):
        day = self.t / HORIZON
        return np.stack([self.moist, self.heat, np.sin(2 * np.pi * day), np.cos(2 * np.pi * day), day], 1).astype(np.float32)

    def step(self, action):
        water = np.array([0.0, 0.06, 0.14])[action]
        evap = 0.03 + 0.05 * self.heat + self.rng.normal(0, 0.01, self.n)
        self.moist = np.clip(self.moist + water - evap, 0.0, 1.0)
        self.heat = np.clip(self.heat + self.rng.normal(0, 0.08, self.n), 0.0, 1.0)
        stress = np.maximum(0.0, 0.35 - self.moist) * 8.0 + np.maximum(0.0, self.moist - 0.8) * 4.0
        reward = -(stress + 0.6 * water + self.rng.normal(0, 0.05, self.n))
        self.t += 1
        done = self.t >= HORIZON
        if done.any():
            k = int(done.sum())
            self.moist[done] = self.rng.uniform(0.3, 0.7, k)
            self.heat[done] = self.rng.uniform(0.0, 1.0, k)
            self.t[done] = 0
        return reward.astype(np.float32), done


def behaviour_policy(obs, rng):
    # hand rule with noise: water more when dry and hot
    p_long = np.clip(1.6 * (0.45 - obs[:, 0]) + 0.3 * obs[:, 1], 0.0, 0.9)
    p_short = np.clip(0.5 - p_long, 0.05, 0.6)
    u = rng.uniform(size=obs.shape[0])
    return np.where(u < p_long, 2, np.where(u < p_long + p_short, 1, 0))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        return self.v(nn.tanh(self.l2(nn.tanh(self.l1(x))))).squeeze(-1)


def collect(env, critic, rng):
    obs_buf = np.zeros((HORIZON, N_ENVS, 5), np.float32)
    rew_buf = np.zeros((HORIZON, N_ENVS), np.float32)
    done_buf = np.zeros((HORIZON, N_ENVS), np.float32)
    for t in range(HORIZON):
        o = env.obs()
        obs_buf[t] = o
        r, d = env.step(behaviour_policy(o, rng))
        rew_buf[t] = r
        done_buf[t] = d
    values = np.array(critic(mx.array(obs_buf.reshape(-1, 5)))).reshape(HORIZON, N_ENVS)
    last_v = np.array(critic(mx.array(env.obs())))
    adv = np.zeros_like(rew_buf)
    gae = np.zeros(N_ENVS, np.float32)
    for t in reversed(range(HORIZON)):
        nxt = last_v if t == HORIZON - 1 else values[t + 1]
        nonterm = 1.0 - done_buf[t]
        delta = rew_buf[t] + GAMMA * nxt * nonterm - values[t]
        gae = delta + GAMMA * LAM * nonterm * gae
        adv[t] = gae
    returns = adv + values
    return obs_buf.reshape(-1, 5), returns.reshape(-1), values.reshape(-1), rew_buf


def value_loss(critic, obs, ret, old_v):
    v = critic(obs)
    v_clip = old_v + mx.clip(v - old_v, -VCLIP, VCLIP)
    return 0.5 * mx.maximum((v - ret) ** 2, (v_clip - ret) ** 2).mean()


def lr_at(it):
    # linear warm-up from exactly 0 over iterations 0..2, then flat, then halve
    if it < 3:
        return BASE_LR * it / 3
    return BASE_LR if it < 26 else BASE_LR * 0.5


def explained_variance(pred, target):
    var = np.var(target)
    return float(1.0 - np.var(target - pred) / var) if var > 0 else 0.0


def run_session(critic, opt, env, rng, it_start, it_end, t0):
    step = nn.value_and_grad(critic, value_loss)
    for it in range(it_start, it_end):
        opt.learning_rate = lr_at(it)
        obs, ret, old_v, rew = collect(env, critic, rng)
        ev_before = explained_variance(old_v, ret)
        obs_m, ret_m, old_m = mx.array(obs), mx.array(ret), mx.array(old_v)
        n = obs.shape[0]
        losses = []
        for _ in range(EPOCHS):
            perm = rng.permutation(n)
            for s in range(0, n, MINIBATCH):
                idx = mx.array(perm[s:s + MINIBATCH])
                loss, grads = step(critic, obs_m[idx], ret_m[idx], old_m[idx])
                opt.update(critic, grads)
                mx.eval(critic.parameters(), opt.state, loss)
                losses.append(loss.item())
        new_v = np.array(critic(obs_m))
        ev_after = explained_variance(new_v, ret)
        # constant-mean predictor: explained variance 0 by construction
        print(f"{it:>4} {float(opt.learning_rate.item() if isinstance(opt.learning_rate, mx.array) else opt.learning_rate):>9.2e}"
              f" {rew.mean():>9.3f} {ret.mean():>9.3f} {losses[0]:>9.4f} {losses[-1]:>9.4f}"
              f" {ev_before:>8.3f} {ev_after:>8.3f} {0.0:>6.1f} {time.time() - t0:>6.1f}")


def header():
    print(f"{'it':>4} {'lr':>9} {'rew/step':>9} {'ret_mean':>9} {'vloss_0':>9} {'vloss_N':>9}"
          f" {'ev_pre':>8} {'ev_post':>8} {'ev_ref':>6} {'secs':>6}")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    env = Orchard(N_ENVS, seed=11)
    critic = Critic()
    opt = optim.Adam(learning_rate=0.0)
    mx.eval(critic.parameters())
    n_params = sum(v.size for _, v in tree_flatten(critic.parameters()))
    print(f"critic params {n_params}, rollout {HORIZON}x{N_ENVS}, {EPOCHS} epochs x minibatch {MINIBATCH}, value clip {VCLIP}")

    t0 = time.time()
    print("session 1")
    header()
    run_session(critic, opt, env, rng, 0, SPLIT_AT + 1, t0)

    ckpt_dir = tempfile.mkdtemp()
    wpath = os.path.join(ckpt_dir, "critic.safetensors")
    opath = os.path.join(ckpt_dir, "adam.safetensors")
    critic.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written after iteration {SPLIT_AT}: {os.path.getsize(wpath)} + {os.path.getsize(opath)} bytes")

    # session 2: fresh objects restored from disk
    critic2 = Critic()
    critic2.load_weights(wpath)
    opt2 = optim.Adam(learning_rate=0.0)
    opt2.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(critic2.parameters(), opt2.state)
    same = all(bool(mx.array_equal(a, b)) for (_, a), (_, b) in zip(tree_flatten(critic.parameters()), tree_flatten(critic2.parameters())))
    print(f"restored critic identical to saved: {same}; adam step counter {int(opt2.state['step'])}")
    print("session 2")
    header()
    run_session(critic2, opt2, env, rng, SPLIT_AT + 1, ITERS, t0)

    # final check against Monte-Carlo returns on a fresh evaluation rollout
    eval_env = Orchard(N_ENVS, seed=99)
    erng = np.random.default_rng(99)
    obs_e = np.zeros((4 * HORIZON, N_ENVS, 5), np.float32)
    rew_e = np.zeros((4 * HORIZON, N_ENVS), np.float32)
    done_e = np.zeros((4 * HORIZON, N_ENVS), np.float32)
    for t in range(4 * HORIZON):
        o = eval_env.obs()
        obs_e[t] = o
        r, d = eval_env.step(behaviour_policy(o, erng))
        rew_e[t], done_e[t] = r, d
    mc = np.zeros_like(rew_e)
    g = np.zeros(N_ENVS, np.float32)
    for t in reversed(range(4 * HORIZON)):
        g = rew_e[t] + GAMMA * g * (1.0 - done_e[t])
        mc[t] = g
    keep = slice(0, 2 * HORIZON)  # first half: returns not truncated much by the window end
    pred = np.array(critic2(mx.array(obs_e[keep].reshape(-1, 5))))
    target = mc[keep].reshape(-1)
    ev = explained_variance(pred, target)
    mae = float(np.abs(pred - target).mean())
    mae_const = float(np.abs(target.mean() - target).mean())
    print(f"held-out Monte-Carlo check: explained variance {ev:.3f} (constant predictor 0.000), "
          f"MAE {mae:.3f} vs constant-mean MAE {mae_const:.3f}, mean return {target.mean():.3f}")


if __name__ == "__main__":
    main()
