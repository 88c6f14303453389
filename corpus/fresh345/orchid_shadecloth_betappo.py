"""Orchid glasshouse shade-cloth controller.

48 glasshouses are simulated in lockstep over one day (36 half-hour steps).
Each step the controller sets the shade-cloth fraction in (0, 1).  Less shade
means more light for the plants but a hotter house.  Rewards are penalties, so
returns are negative and higher is better.

Policy: Beta(alpha, beta) over the shade fraction, PPO with GAE and the
dual-clip surrogate.  Training runs in two sessions: the first writes a
checkpoint (weights, Adam state, counters, numpy RNG state), the second builds
fresh objects, loads it and carries on.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_HOUSES, HORIZON = 48, 36
GAMMA, LAM = 0.97, 0.92
EPS_CLIP, DUAL_C = 0.2, 3.0
EPOCHS, MINIBATCH = 4, 288
ENT_COEF, VF_COEF = 0.003, 0.5
PEAK_LR, WARMUP_STEPS = 3e-4, 120
UPDATES_A, UPDATES_TOTAL = 30, 60


# ----------------------------------------------------------------- simulator
class Glasshouses:
    def __init__(self, rng, n=N_HOUSES):
        self.rng, self.n = rng, n

    def reset(self):
        r = self.rng
        self.t = 0
        self.cloud = r.uniform(0.6, 1.0, self.n)
        self.offset = r.normal(0.0, 1.5, self.n)
        self.temp = 20.0 + r.normal(0.0, 1.0, self.n)
        return self._obs()

    def _sun_out(self):
        f = self.t / (HORIZON - 1)
        sun = max(0.0, math.sin(math.pi * (0.1 + 0.8 * f))) * self.cloud
        sun = np.clip(sun + self.rng.normal(0.0, 0.05, self.n), 0.0, 1.2)
        out = 18.0 + 8.0 * math.sin(math.pi * f) + self.offset
        return sun, out, f

    def _obs(self):
        sun, out, f = self._sun_out()
        self.sun, self.out = sun, out
        return np.stack([sun, (self.temp - 26.0) / 5.0,
                         np.full(self.n, f), (out - 20.0) / 5.0], 1).astype(np.float32)

    def step(self, shade):
        light = self.sun * (1.0 - shade)
        self.temp = self.temp + 0.35 * (self.out + 14.0 * light - self.temp) \
            + self.rng.normal(0.0, 0.4, self.n)
        reward = -0.5 * ((self.temp - 26.0) / 3.0) ** 2 - 1.5 * np.maximum(0.0, 0.45 - light)
        self.t += 1
        done = self.t >= HORIZON
        return (None if done else self._obs()), reward.astype(np.float32), done


def run_rule(rule, seed):
    env = Glasshouses(np.random.default_rng(seed))
    obs, total, done = env.reset(), np.zeros(N_HOUSES), False
    while not done:
        obs, r, done = env.step(rule(obs))
        total += r
    return float(total.mean())


# --------------------------------------------------------- special functions
def lgamma(x):
    """log Gamma for x >= 1: shift by 6, then the Stirling series."""
    shift = x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5)
    z = x + 6.0
    zi = 1.0 / z
    s = (z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi) \
        + zi / 12.0 - zi ** 3 / 360.0 + zi ** 5 / 1260.0
    return s - mx.log(shift)


def digamma(x):
    acc = 1.0 / x + 1.0 / (x + 1) + 1.0 / (x + 2) + 1.0 / (x + 3) + 1.0 / (x + 4) + 1.0 / (x + 5)
    z = x + 6.0
    zi2 = 1.0 / (z * z)
    s = mx.log(z) - 0.5 / z - zi2 / 12.0 + zi2 ** 2 / 120.0 - zi2 ** 3 / 252.0
    return s - acc


def beta_logpdf(x, a, b):
    lbeta = lgamma(a) + lgamma(b) - lgamma(a + b)
    return (a - 1) * mx.log(x) + (b - 1) * mx.log1p(-x) - lbeta


def beta_entropy(a, b):
    lbeta = lgamma(a) + lgamma(b) - lgamma(a + b)
    return lbeta - (a - 1) * digamma(a) - (b - 1) * digamma(b) + (a + b - 2) * digamma(a + b)


# ---------------------------------------------------------------- the agent
class ShadeAgent(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(),
                                   nn.Linear(hidden, hidden), nn.Tanh())
        self.conc = nn.Linear(hidden, 2)
        self.value = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        ab = 1.0 + nn.softplus(self.conc(h))
        return ab[:, 0], ab[:, 1], self.value(h).squeeze(-1)


def ppo_loss(model, obs, act, old_logp, adv, ret):
    a, b, v = model(obs)
    logp = beta_logpdf(act, a, b)
    ratio = mx.exp(logp - old_logp)
    surr = mx.minimum(ratio * adv, mx.clip(ratio, 1 - EPS_CLIP, 1 + EPS_CLIP) * adv)
    surr = mx.where(adv < 0, mx.maximum(surr, DUAL_C * adv), surr)
    pi_loss = -surr.mean()
    v_loss = 0.5 * ((v - ret) ** 2).mean()
    ent = beta_entropy(a, b).mean()
    total = pi_loss + VF_COEF * v_loss - ENT_COEF * ent
    stats = mx.stack([pi_loss, v_loss, ent, (old_logp - logp).mean(),
                      (mx.abs(ratio - 1) > EPS_CLIP).mean(),
                      ((adv < 0) & (ratio * adv < DUAL_C * adv)).mean()])
    return total, stats


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP_STEPS),
         lambda _: mx.array(PEAK_LR)], [WARMUP_STEPS])
    return optim.Adam(learning_rate=sched)


def collect(model, env):
    obs = env.reset()
    buf = {k: [] for k in ("obs", "act", "logp", "val", "rew")}
    done = False
    while not done:
        a, b, v = model(mx.array(obs))
        mx.eval(a, b, v)
        a_np, b_np = np.array(a), np.array(b)
        act = np.clip(env.rng.beta(a_np, b_np), 1e-4, 1 - 1e-4).astype(np.float32)
        logp = beta_logpdf(mx.array(act), a, b)
        buf["obs"].append(obs)
        buf["act"].append(act)
        buf["logp"].append(np.array(logp))
        buf["val"].append(np.array(v))
        obs, r, done = env.step(act)
        buf["rew"].append(r)
    rew, val = np.array(buf["rew"]), np.array(buf["val"])
    adv = np.zeros_like(rew)
    last = np.zeros(N_HOUSES, np.float32)
    for t in reversed(range(HORIZON)):
        nxt = val[t + 1] if t + 1 < HORIZON else np.zeros(N_HOUSES, np.float32)
        delta = rew[t] + GAMMA * nxt - val[t]
        last = delta + GAMMA * LAM * last
        adv[t] = last
    ret = adv + val
    flat = lambda x: np.asarray(x, np.float32).reshape(HORIZON * N_HOUSES, *np.shape(x)[2:])
    return (flat(buf["obs"]), flat(buf["act"]), flat(buf["logp"]), flat(adv), flat(ret),
            float(rew.sum(0).mean()))


def greedy_return(model, seed=2024):
    def rule(obs):
        a, b, _ = model(mx.array(obs))
        return np.array(a / (a + b))
    return run_rule(rule, seed)


def train_updates(model, opt, env, start, stop, lossgrad):
    for upd in range(start, stop + 1):
        obs, act, old_logp, adv, ret, ep_ret = collect(model, env)
        n = obs.shape[0]
        stats_acc = []
        for _ in range(EPOCHS):
            perm = env.rng.permutation(n)
            for i in range(0, n, MINIBATCH):
                idx = perm[i:i + MINIBATCH]
                a_mb = adv[idx]
                a_mb = (a_mb - a_mb.mean()) / (a_mb.std() + 1e-8)
                (_, stats), grads = lossgrad(model, mx.array(obs[idx]), mx.array(act[idx]),
                                             mx.array(old_logp[idx]), mx.array(a_mb),
                                             mx.array(ret[idx]))
                grads, _ = optim.clip_grad_norm(grads, 0.5)
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, stats)
                stats_acc.append(np.array(stats))
        if upd <= 3 or upd % 5 == 0:
            s = np.mean(stats_acc, 0)
            a, b, _ = model(mx.array(obs[:HORIZON * N_HOUSES:7]))
            conc = float((a + b).mean())
            lr = float(opt.learning_rate)
            print(f"{upd}\t{lr:.2e}\t{ep_ret:.2f}\t{s[0]:+.4f}\t{s[1]:.3f}\t{s[2]:+.3f}"
                  f"\t{s[3]:.4f}\t{100 * s[4]:.1f}\t{100 * s[5]:.2f}\t{conc:.2f}", flush=True)


def main():
    t0 = time.time()
    mx.random.seed(7)
    x = mx.array([1.0, 1.7, 2.5, 4.0, 9.0, 30.0])
    err = max(abs(float(v) - math.lgamma(float(z))) for v, z in zip(lgamma(x), x))
    print(f"# lgamma check vs math.lgamma: max abs err {err:.2e}")

    rules = {
        "open (no shade)": lambda o: np.zeros(len(o)),
        "half shade": lambda o: np.full(len(o), 0.5),
        "grower's rule": lambda o: np.clip(0.5 + 0.4 * o[:, 1] + 0.3 * (o[:, 0] - 0.6), 0.0, 0.9),
    }
    for name, rule in rules.items():
        print(f"# baseline {name:<16} return {run_rule(rule, 2024):8.2f}")

    header = "upd\tlr\tep_return\tpi_loss\tv_loss\tentropy\tkl\tclip%\tdual%\tconc"
    ckpt_dir = tempfile.mkdtemp("_shadecloth")

    # ---- session A
    model = ShadeAgent()
    mx.eval(model.parameters())
    opt = make_optimizer()
    env = Glasshouses(np.random.default_rng(11))
    lossgrad = nn.value_and_grad(model, ppo_loss)
    print(f"# untrained greedy return {greedy_return(model):.2f}")
    print("# session A")
    print(header)
    train_updates(model, opt, env, 1, UPDATES_A, lossgrad)
    g_saved = greedy_return(model)
    model.save_weights(os.path.join(ckpt_dir, "agent.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "adam.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as fh:
        json.dump({"update": UPDATES_A, "rng": env.rng.bit_generator.state}, fh)
    print(f"# checkpoint written after update {UPDATES_A}, greedy return {g_saved:.2f}")
    del model, opt, env, lossgrad

    # ---- session B
    model = ShadeAgent()
    model.load_weights(os.path.join(ckpt_dir, "agent.safetensors"))
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "adam.safetensors")).items()))
    with open(os.path.join(ckpt_dir, "meta.json")) as fh:
        meta = json.load(fh)
    env = Glasshouses(np.random.default_rng())
    env.rng.bit_generator.state = meta["rng"]
    lossgrad = nn.value_and_grad(model, ppo_loss)
    g_loaded = greedy_return(model)
    print(f"# session B resumed at update {meta['update'] + 1}, greedy return {g_loaded:.2f} "
          f"(saved {g_saved:.2f}), lr now {float(opt.learning_rate):.2e}")
    print(header)
    train_updates(model, opt, env, meta["update"] + 1, UPDATES_TOTAL, lossgrad)

    g = greedy_return(model)
    print(f"# final greedy return {g:.2f} (seed 2024, same days as the baselines)")
    for seed in (31, 32, 33):
        rule_r = run_rule(rules["grower's rule"], seed)
        print(f"# held-out day seed {seed}: agent {greedy_return(model, seed):8.2f}  grower's rule {rule_r:8.2f}")
    print(f"# done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
