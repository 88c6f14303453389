"""Snowplow dispatch on a ring road, advantage actor-critic with GAE.

Six road segments in a ring; snow piles up at segment-specific rates.  The plow
can drive clockwise, counter-clockwise, or clear the segment it is on.  Reward
per step is minus the mean snow depth (cm).  Stage "storm" raises the snowfall
rate halfway through, so returns drop on purpose before the policy adapts.
Two seeds are trained one after another (the update counter restarts).
"""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_SEG, N_ENV, T_ROLL = 6, 32, 16
GAMMA, LAM = 0.95, 0.9
UPDATES, STORM_AT = 240, 120
BASE_RATE = np.array([0.4, 1.2, 0.3, 2.0, 0.6, 1.0])


class Ring:
    def __init__(self, rng):
        self.rng = rng
        self.rate_mult = 1.0
        self.snow = rng.uniform(0, 5, (N_ENV, N_SEG))
        self.pos = rng.integers(0, N_SEG, N_ENV)
        self.t = np.zeros(N_ENV, dtype=int)
        self.horizon = rng.integers(30, 60, N_ENV)

    def obs(self):
        onehot = np.eye(N_SEG)[self.pos]
        rel = np.stack([np.roll(s, -p) for s, p in zip(self.snow, self.pos)])  # plow-centred view
        return np.concatenate([rel / 10.0, onehot], axis=1).astype(np.float32)

    def step(self, a):
        idx = np.arange(N_ENV)
        plow = a == 2
        self.snow[idx[plow], self.pos[plow]] = 0.0
        self.pos = np.where(a == 0, (self.pos + 1) % N_SEG,
                            np.where(a == 1, (self.pos - 1) % N_SEG, self.pos))
        self.snow += self.rate_mult * BASE_RATE * self.rng.uniform(0.5, 1.5, (N_ENV, N_SEG))
        self.snow = np.minimum(self.snow, 40.0)
        reward = -self.snow.mean(axis=1) / 40.0
        self.t += 1
        done = self.t >= self.horizon
        if done.any():
            k = done.sum()
            self.snow[done] = self.rng.uniform(0, 5, (k, N_SEG))
            self.pos[done] = self.rng.integers(0, N_SEG, k)
            self.t[done] = 0
            self.horizon[done] = self.rng.integers(30, 60, k)
        return reward, done.astype(np.float32)


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2 * N_SEG, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.pi = nn.Linear(64, 3)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.pi(h), self.v(h).squeeze(-1)


def loss_fn(model, obs, acts, adv, ret, ent_coef):
    logits, v = model(obs)
    logp_all = nn.log_softmax(logits, axis=-1)
    logp = mx.take_along_axis(logp_all, acts[:, None], axis=-1).squeeze(-1)
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    pg = -(logp * adv).mean()
    vl = ((v - ret) ** 2).mean()
    return pg + 0.5 * vl - ent_coef * ent, (pg, vl, ent)


def random_baseline(rng, mult, steps=200):
    env = Ring(rng)
    env.rate_mult = mult
    tot = 0.0
    for _ in range(steps):
        r, _ = env.step(rng.integers(0, 3, N_ENV))
        tot += r.mean()
    return tot / steps * 40.0  # cm


for seed in (11, 29):
    rng = np.random.default_rng(seed)
    mx.random.seed(seed)
    model = ActorCritic()
    opt = optim.RMSprop(learning_rate=3e-3, alpha=0.99)
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)
    env = Ring(rng)
    base = {1.0: random_baseline(np.random.default_rng(seed + 1), 1.0),
            1.7: random_baseline(np.random.default_rng(seed + 1), 1.7)}
    obs = env.obs()
    recent = []
    for upd in range(1, UPDATES + 1):
        stage = "calm" if upd <= STORM_AT else "storm"
        env.rate_mult = 1.0 if stage == "calm" else 1.7
        ent_coef = 0.02 * max(0.0, 1 - upd / UPDATES) + 0.005
        O, A, R, D, V = [], [], [], [], []
        for t in range(T_ROLL):
            logits, v = model(mx.array(obs))
            a = np.array(mx.random.categorical(logits))
            r, d = env.step(a)
            O.append(obs); A.append(a); R.append(r); D.append(d); V.append(np.array(v))
            obs = env.obs()
            recent.append(r.mean())
        _, v_last = model(mx.array(obs))
        v_next = np.array(v_last)
        adv = np.zeros((T_ROLL, N_ENV), np.float32)
        gae = np.zeros(N_ENV, np.float32)
        for t in reversed(range(T_ROLL)):
            nonterm = 1.0 - D[t]
            delta = R[t] + GAMMA * v_next * nonterm - V[t]
            gae = delta + GAMMA * LAM * nonterm * gae
            adv[t] = gae
            v_next = V[t]
        ret = adv + np.array(V)
        adv_n = (adv - adv.mean()) / (adv.std() + 1e-6)
        (loss, (pg, vl, ent)), grads = vg(model, mx.array(np.concatenate(O)), mx.array(np.concatenate(A)),
                                           mx.array(adv_n.reshape(-1)), mx.array(ret.reshape(-1)), ent_coef)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if upd % 20 == 0:
            snow_cm = -float(np.mean(recent)) * 40.0
            recent = []
            print(json.dumps({"seed": seed, "stage": stage, "update": upd,
                              "mean_snow_cm": round(snow_cm, 2),
                              "random_policy_cm": round(-base[env.rate_mult], 2),
                              "value_mse": round(vl.item(), 4), "entropy": round(ent.item(), 3),
                              "grad_norm": round(gnorm.item(), 3)}))
print("done: lower mean_snow_cm than random_policy_cm means the plow learned a route")
