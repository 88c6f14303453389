"""Brewhouse mash tun: learn a steam-valve controller that follows a step-mash
schedule (protein rest -> saccharification rest -> mash-out) with DDPG.

Deterministic actor + Q critic, target copies updated by Polyak averaging,
a replay buffer, Ornstein-Uhlenbeck exploration noise that decays, and a
warm-up phase that only fills the buffer with random valve moves.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

STEPS = 60                       # one mash = 60 control intervals
SCHEDULE = [(0, 52.0), (15, 63.0), (35, 72.0), (50, 78.0)]
AMBIENT = 20.0


def target_at(t):
    tgt = SCHEDULE[0][1]
    for start, temp in SCHEDULE:
        if t >= start:
            tgt = temp
    return tgt


class MashTun:
    def __init__(self, rng):
        self.rng = rng

    def reset(self):
        self.t = 0
        self.temp = 50.0 + self.rng.normal(0, 1.5)
        return self.obs()

    def obs(self):
        tgt = target_at(self.t)
        nxt = target_at(min(self.t + 3, STEPS - 1))
        return np.array([(self.temp - 65.0) / 10.0, (tgt - 65.0) / 10.0,
                         (nxt - tgt) / 10.0], dtype=np.float32)

    def step(self, a):
        a = float(np.clip(a, -1.0, 1.0))
        steam = 0.5 * (a + 1.0)                       # valve 0..1
        heat = 3.2 * steam
        loss = 0.035 * (self.temp - AMBIENT)
        self.temp += heat - loss + self.rng.normal(0, 0.15)
        self.t += 1
        tgt = target_at(self.t - 1)
        r = -abs(self.temp - tgt) / 5.0 - 0.02 * steam ** 2
        done = self.t >= STEPS
        return self.obs(), r, done


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, s):
        h = nn.relu(self.l1(s))
        h = nn.relu(self.l2(h))
        return mx.tanh(self.out(h))


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, s, a):
        h = nn.relu(self.l1(mx.concatenate([s, a], axis=-1)))
        h = nn.relu(self.l2(h))
        return self.out(h).squeeze(-1)


def copy_into(dst, src):
    dst.update(tree_map(lambda x: mx.array(x), src.parameters()))


def polyak(dst, src, tau):
    dst.update(tree_map(lambda d, s: (1.0 - tau) * d + tau * s,
                        dst.parameters(), src.parameters()))


def run_episode(env, policy_fn):
    s = env.reset()
    total = 0.0
    errs = []
    for _ in range(STEPS):
        a = policy_fn(s)
        s, r, done = env.step(a)
        total += r
        errs.append(abs(env.temp - target_at(env.t - 1)))
        if done:
            break
    return total, float(np.mean(errs))


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    env = MashTun(rng)

    actor, critic = Actor(), Critic()
    actor_t, critic_t = Actor(), Critic()
    mx.eval(actor.parameters(), critic.parameters())
    copy_into(actor_t, actor)
    copy_into(critic_t, critic)
    mx.eval(actor_t.parameters(), critic_t.parameters())

    opt_a = optim.Adam(learning_rate=1e-3)
    opt_c = optim.Adam(learning_rate=2e-3)
    gamma, tau, batch = 0.95, 0.02, 64

    cap = 30000
    buf_s = np.zeros((cap, 3), np.float32)
    buf_a = np.zeros((cap, 1), np.float32)
    buf_r = np.zeros((cap,), np.float32)
    buf_s2 = np.zeros((cap, 3), np.float32)
    buf_d = np.zeros((cap,), np.float32)
    n = 0

    def critic_loss(model, s, a, y):
        return nn.losses.mse_loss(model(s, a), y)

    def actor_loss(model, s):
        return -critic(s, model(s)).mean()

    c_step = nn.value_and_grad(critic, critic_loss)
    a_step = nn.value_and_grad(actor, actor_loss)

    # reference controllers on the same plant
    _, err_off = run_episode(MashTun(np.random.default_rng(99)), lambda s: -1.0)
    ret_p, err_p = run_episode(MashTun(np.random.default_rng(99)),
                               lambda s: np.clip(3.0 * (s[1] - s[0]), -1, 1))
    print(f"baseline valve-closed  mean |err| {err_off:6.2f} C")
    print(f"baseline P-controller  return {ret_p:8.2f}  mean |err| {err_p:5.2f} C")

    warmup_eps, episodes = 10, 44
    ou_theta, ou_sigma = 0.15, 0.6
    for ep in range(episodes):
        s = env.reset()
        ou = 0.0
        sigma = ou_sigma * max(0.1, 1.0 - ep / 32.0)
        ep_ret, c_hist, a_hist = 0.0, [], []
        for _ in range(STEPS):
            if ep < warmup_eps:
                a = float(rng.uniform(-1, 1))
            else:
                mu = float(actor(mx.array(s[None]))[0, 0])
                ou += ou_theta * (0.0 - ou) + sigma * rng.normal()
                a = float(np.clip(mu + ou, -1, 1))
            s2, r, done = env.step(a)
            i = n % cap
            buf_s[i], buf_a[i, 0], buf_r[i], buf_s2[i], buf_d[i] = s, a, r, s2, float(done)
            n += 1
            ep_ret += r
            s = s2
            if ep >= warmup_eps:
                idx = rng.integers(0, min(n, cap), size=batch)
                bs, ba = mx.array(buf_s[idx]), mx.array(buf_a[idx])
                br, bs2, bd = mx.array(buf_r[idx]), mx.array(buf_s2[idx]), mx.array(buf_d[idx])
                y = br + gamma * (1.0 - bd) * critic_t(bs2, actor_t(bs2))
                y = mx.stop_gradient(y)
                lc, gc = c_step(critic, bs, ba, y)
                opt_c.update(critic, gc)
                la, ga = a_step(actor, bs)
                opt_a.update(actor, ga)
                polyak(critic_t, critic, tau)
                polyak(actor_t, actor, tau)
                mx.eval(critic.parameters(), actor.parameters(), critic_t.parameters(),
                        actor_t.parameters(), opt_c.state, opt_a.state, lc, la)
                c_hist.append(lc.item())
                a_hist.append(la.item())
            if done:
                break
        if ep < warmup_eps:
            if ep % 5 == 0:
                print(f"ep {ep:3d}  warm-up (random valve)  return {ep_ret:8.2f}  buffer {n}")
        elif ep % 5 == 0 or ep == episodes - 1:
            print(f"ep {ep:3d}  return {ep_ret:8.2f}  critic_mse {np.mean(c_hist):7.4f}  "
                  f"actor_loss {np.mean(a_hist):8.3f}  noise_sd {sigma:.2f}")

    def greedy(s):
        return float(actor(mx.array(s[None]))[0, 0])

    rets, errs = [], []
    for k in range(5):
        r_, e_ = run_episode(MashTun(np.random.default_rng(1000 + k)), greedy)
        rets.append(r_)
        errs.append(e_)
    print(f"eval DDPG actor  return {np.mean(rets):8.2f}  mean |err| {np.mean(errs):5.2f} C "
          f"(P-controller {err_p:.2f} C, valve closed {err_off:.2f} C)")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
