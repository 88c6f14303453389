"""Cheese-cave (affinage cellar) climate: model-based control.

A probabilistic ensemble learns the cellar's temperature/humidity dynamics from logged
transitions, and a cross-entropy-method planner chooses chiller / mister settings by
imagining rollouts inside the learned model.  Each round: refit the ensemble on all data
collected so far (fresh AdamW whose learning rate warms up from 0), then run the planner
in the real cellar and add its transitions to the log.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

T_SET, H_SET = 11.0, 92.0
EP_LEN = 48          # half-hour ticks -> one day
DT_NOISE, DH_NOISE = 0.15, 0.8


class Cellar:
    def __init__(self, rng):
        self.rng = rng

    def reset(self):
        self.t = 0
        self.T = self.rng.uniform(9.0, 15.0)
        self.H = self.rng.uniform(80.0, 95.0)
        return self.obs()

    def outside(self, t):
        return 16.0 + 5.0 * np.sin(2 * np.pi * t / EP_LEN)

    def obs(self):
        ph = 2 * np.pi * self.t / EP_LEN
        return np.array([self.T, self.H, np.sin(ph), np.cos(ph)], dtype=np.float32)

    def step(self, a):
        chill, mist = float(np.clip(a[0], 0, 1)), float(np.clip(a[1], 0, 1))
        T_out = self.outside(self.t)
        dT = 0.12 * (T_out - self.T) - 1.6 * chill
        dH = 0.10 * (72.0 - self.H) + 7.0 * mist - 2.5 * chill * (self.H - 60.0) / 30.0
        self.T += dT + self.rng.normal(0, DT_NOISE)
        self.H = float(np.clip(self.H + dH + self.rng.normal(0, DH_NOISE), 40.0, 100.0))
        self.t += 1
        return self.obs(), reward_np(self.T, self.H, chill, mist)


def reward_np(T, H, chill, mist):
    return -((T - T_SET) ** 2 + 0.04 * (H - H_SET) ** 2) - 0.3 * (chill + mist)


def reward_mx(T, H, a):
    return -((T - T_SET) ** 2 + 0.04 * (H - H_SET) ** 2) - 0.3 * mx.sum(a, axis=-1)


class EnsembleLinear(nn.Module):
    def __init__(self, E, d_in, d_out):
        super().__init__()
        s = 1.0 / np.sqrt(d_in)
        self.weight = mx.random.uniform(-s, s, (E, d_in, d_out))
        self.bias = mx.zeros((E, 1, d_out))

    def __call__(self, x):            # x: (E, B, d_in)
        return mx.matmul(x, self.weight) + self.bias


class GaussEnsemble(nn.Module):
    def __init__(self, E=5, d_in=6, d_out=2, hidden=64):
        super().__init__()
        self.l1 = EnsembleLinear(E, d_in, hidden)
        self.l2 = EnsembleLinear(E, hidden, hidden)
        self.head = EnsembleLinear(E, hidden, 2 * d_out)
        self.max_logvar = mx.full((1, 1, d_out), 0.5)
        self.min_logvar = mx.full((1, 1, d_out), -6.0)
        self.d_out = d_out

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        out = self.head(h)
        mean, raw = out[..., : self.d_out], out[..., self.d_out:]
        logvar = self.max_logvar - nn.softplus(self.max_logvar - raw)
        logvar = self.min_logvar + nn.softplus(logvar - self.min_logvar)
        return mean, logvar


def features(obs, act):
    # obs: (..., 4) raw [T, H, sin, cos]; act: (..., 2)
    T = (obs[..., 0:1] - 12.0) / 3.0
    H = (obs[..., 1:2] - 85.0) / 10.0
    return mx.concatenate([T, H, obs[..., 2:4], act * 2.0 - 1.0], axis=-1)


D_SCALE = mx.array([1.0, 4.0])      # target deltas in (degC, %RH/4)


def nll_loss(model, x, y):
    mean, logvar = model(x)
    inv = mx.exp(-logvar)
    nll = 0.5 * (((mean - y) ** 2) * inv + logvar)
    reg = 0.01 * (mx.sum(model.max_logvar) - mx.sum(model.min_logvar))
    return mx.mean(nll) + reg


def collect(env, policy, episodes):
    S, A, S2, R = [], [], [], []
    for _ in range(episodes):
        o = env.reset()
        for _ in range(EP_LEN):
            a = policy(o, env.t)
            o2, r = env.step(a)
            S.append(o); A.append(a); S2.append(o2); R.append(r)
            o = o2
    return [np.array(v, dtype=np.float32) for v in (S, A, S2, R)]


def episode_return(env, policy, episodes):
    tot = 0.0
    for _ in range(episodes):
        o = env.reset()
        for _ in range(EP_LEN):
            o, r = env.step(policy(o, env.t))
            tot += r
    return tot / episodes


def thermostat(o, t):
    return np.array([1.0 if o[0] > T_SET + 0.5 else 0.0,
                     1.0 if o[1] < H_SET - 2.0 else 0.0], dtype=np.float32)


plan_rng = np.random.default_rng(SEED + 1)


def random_policy(o, t):
    return plan_rng.uniform(0, 1, 2).astype(np.float32)


def make_planner(model, horizon=6, pop=96, elites=12, iters=2):
    E = model.l1.weight.shape[0]

    def _imagine(start, phase, acts):   # start: (2,), phase: (horizon, 2), acts: (pop, horizon, 2)
        P = acts.shape[0]
        T = mx.broadcast_to(start[0], (P,)); H = mx.broadcast_to(start[1], (P,))
        ret = mx.zeros((P,))
        for k in range(horizon):
            sc = mx.broadcast_to(phase[k], (P, 2))
            ob = mx.concatenate([T[:, None], H[:, None], sc], axis=-1)
            a = acts[:, k, :]
            x = mx.broadcast_to(features(ob, a)[None], (E, P, 6))
            mean, _ = model(x)
            d = mx.mean(mean, axis=0) * D_SCALE
            T = T + d[:, 0]
            H = mx.clip(H + d[:, 1], 40.0, 100.0)
            ret = ret + reward_mx(T, H, a)
        return ret

    imagine_c = mx.compile(_imagine)

    def imagine(o, t, acts):
        ph = 2 * np.pi * (t + np.arange(horizon)) / EP_LEN
        phase = mx.array(np.stack([np.sin(ph), np.cos(ph)], axis=-1).astype(np.float32))
        return imagine_c(mx.array(o[:2]), phase, acts)

    def policy(o, t):
        mu = np.full((horizon, 2), 0.5, dtype=np.float32)
        sd = np.full((horizon, 2), 0.35, dtype=np.float32)
        for _ in range(iters):
            cand = np.clip(mu + sd * plan_rng.standard_normal((pop, horizon, 2)), 0, 1).astype(np.float32)
            ret = imagine(o, t, mx.array(cand))
            mx.eval(ret)
            idx = np.argsort(-np.array(ret))[:elites]
            mu = cand[idx].mean(0)
            sd = cand[idx].std(0) + 0.02
        return mu[0]

    return policy


def main():
    t0 = time.time()
    env = Cellar(np.random.default_rng(SEED))
    eval_env = Cellar(np.random.default_rng(SEED + 100))
    S, A, S2, R = collect(env, random_policy, 24)
    hold = collect(Cellar(np.random.default_rng(SEED + 200)), random_policy, 6)

    model = GaussEnsemble()
    mx.eval(model.parameters())
    E = 5
    base_thermo = episode_return(eval_env, thermostat, 3)
    base_random = episode_return(eval_env, random_policy, 3)
    print(f"baselines | thermostat return {base_thermo:8.1f} | random return {base_random:8.1f}")

    def to_xy(S, A, S2):
        x = features(mx.array(S), mx.array(A))
        y = mx.array(S2[:, :2] - S[:, :2]) / D_SCALE
        return x, y

    hx, hy = to_xy(*hold[:3])
    persist_mse = float(mx.mean((hy * D_SCALE) ** 2))

    bs = 128
    for rnd in range(3):
        x_all, y_all = to_xy(S, A, S2)
        n = x_all.shape[0]
        lr_sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 2e-3, 120), lambda s: 2e-3], [120])
        opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
        loss_and_grad = nn.value_and_grad(model, nll_loss)
        steps = 300
        for step in range(steps):
            idx = mx.array(np.random.randint(0, n, size=(E, bs)))   # bootstrap per member
            loss, grads = loss_and_grad(model, x_all[idx], y_all[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if step % 100 == 0 or step == steps - 1:
                lr_now = float(opt.learning_rate)
                print(f"round {rnd} step {step:3d} | lr {lr_now:.2e} | gauss_nll {loss.item():+.4f} | transitions {n}")
        mean, _ = model(mx.broadcast_to(hx[None], (E,) + hx.shape))
        pred = mx.mean(mean, axis=0) * D_SCALE
        mse = float(mx.mean((pred - hy * D_SCALE) ** 2))
        planner = make_planner(model)
        ret = episode_return(eval_env, planner, 1)
        print(f"round {rnd} eval | holdout one-step mse {mse:.4f} (persistence {persist_mse:.4f}) "
              f"| planner return {ret:8.1f} (thermostat {base_thermo:.1f}, random {base_random:.1f})")
        if rnd < 2:
            nS, nA, nS2, nR = collect(env, planner, 1)
            S, A, S2, R = (np.concatenate([u, v]) for u, v in ((S, nS), (A, nA), (S2, nS2), (R, nR)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
