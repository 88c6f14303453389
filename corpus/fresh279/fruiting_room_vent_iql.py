"""Offline RL for a mushroom fruiting room: when to vent.

A logged dataset from an old rule-based controller (with operator noise) is all
we get. Implicit Q-learning (IQL): expectile regression for V, TD regression
for twin Q towards r + gamma * V(s'), then policy extraction by
advantage-weighted behaviour cloning. Two stages: stage 1 fits Q and V only
(the policy is not touched), stage 2 extracts the policy with Q/V frozen.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
EP_LEN = 16
GAMMA = 0.95
EXPECTILE = 0.8
BETA = 3.0
TAU = 0.02
N_EPISODES = 1500
STAGE1 = 800
STAGE2 = 450
BATCH = 256
ACTIONS = ["closed", "half", "full"]

np.random.seed(SEED)
mx.random.seed(SEED)


class Room:
    """CO2 (ppm/1000), relative humidity (%), hour of the shift. Vents lower CO2 but dry the air."""

    def __init__(self, n, rng):
        self.n, self.rng = n, rng
        self.co2 = rng.uniform(0.8, 1.6, n)
        self.rh = rng.uniform(86, 94, n)
        self.t = np.zeros(n, dtype=np.int64)

    def obs(self):
        return np.stack([self.co2 - 1.0, (self.rh - 90) / 5, self.t / EP_LEN,
                         np.sin(np.pi * self.t / EP_LEN)], axis=1).astype(np.float32)

    def step(self, a):
        vent = np.array([0.0, 0.5, 1.0])[a]
        growth = 0.12 + 0.08 * np.sin(np.pi * self.t / EP_LEN)      # respiration peaks mid-shift
        self.co2 = np.maximum(0.4, self.co2 + growth - 0.35 * vent * self.co2 + self.rng.normal(0, 0.03, self.n))
        self.rh = np.clip(self.rh + 1.2 - 3.0 * vent + self.rng.normal(0, 0.6, self.n), 60, 99)
        self.t += 1
        co2_pen = np.maximum(0, self.co2 - 1.2) * 2.0                 # leggy stems
        dry_pen = np.maximum(0, 85 - self.rh) * 0.3                   # cracked caps
        wet_pen = np.maximum(0, self.rh - 96) * 0.2                   # blotch
        r = 1.0 - co2_pen - dry_pen - wet_pen - 0.05 * vent
        return r.astype(np.float32), self.t >= EP_LEN


def old_controller(o, rng, noise=0.35):
    co2 = o[:, 0] + 1.0
    a = np.where(co2 > 1.5, 2, np.where(co2 > 1.1, 1, 0))
    flip = rng.random(len(a)) < noise
    a[flip] = rng.integers(0, 3, flip.sum())
    return a


def collect(rng):
    S, A, R, S2, D = [], [], [], [], []
    env = Room(N_EPISODES, rng)
    for _ in range(EP_LEN):
        o = env.obs()
        a = old_controller(o, rng)
        r, d = env.step(a)
        S.append(o); A.append(a); R.append(r); S2.append(env.obs()); D.append(d.astype(np.float32))
    cat = lambda xs: np.concatenate(xs, 0)
    return cat(S), cat(A).astype(np.int32), cat(R), cat(S2), cat(D)


def rollout(policy, episodes=600, seed=99):
    rng = np.random.default_rng(seed)
    env = Room(episodes, rng)
    ret = np.zeros(episodes)
    for _ in range(EP_LEN):
        r, _ = env.step(policy(env.obs(), rng))
        ret += r
    return ret.mean()


def mlp(i, o, h=64):
    return nn.Sequential(nn.Linear(i, h), nn.GELU(), nn.Linear(h, h), nn.GELU(), nn.Linear(h, o))


class TwinQ(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = mlp(4, 3)
        self.b = mlp(4, 3)

    def __call__(self, s):
        return self.a(s), self.b(s)


def pick(q, a):
    return mx.take_along_axis(q, a[:, None], axis=1)[:, 0]


def v_loss(vnet, qt_min, s):
    diff = qt_min - vnet(s)[:, 0]
    w = mx.where(diff > 0, EXPECTILE, 1 - EXPECTILE)
    return (w * diff ** 2).mean()


def q_loss(qnet, s, a, target):
    q1, q2 = qnet(s)
    return ((pick(q1, a) - target) ** 2).mean() + ((pick(q2, a) - target) ** 2).mean()


def pi_loss(pnet, s, a, w):
    logp = pick(nn.log_softmax(pnet(s), axis=1), a)
    return -(w * logp).mean()


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    S, A, R, S2, D = collect(rng)
    n = len(A)
    print(f"logged transitions {n}, action mix " +
          ", ".join(f"{ACTIONS[k]} {np.mean(A == k):.2f}" for k in range(3)) +
          f", mean logged reward {R.mean():+.3f}")

    qnet, qtarget, vnet, pnet = TwinQ(), TwinQ(), mlp(4, 1), mlp(4, 3)
    qtarget.update(qnet.parameters())
    qtarget.freeze()
    mx.eval(qnet.parameters(), qtarget.parameters(), vnet.parameters(), pnet.parameters())
    opt_q, opt_v = optim.Adam(learning_rate=1e-3), optim.Adam(learning_rate=1e-3)
    opt_p = optim.AdamW(learning_rate=optim.cosine_decay(1e-3, STAGE2, 1e-5), weight_decay=1e-4)
    v_grad = nn.value_and_grad(vnet, v_loss)
    q_grad = nn.value_and_grad(qnet, q_loss)
    p_grad = nn.value_and_grad(pnet, pi_loss)

    def batch():
        j = rng.integers(0, n, BATCH)
        return (mx.array(S[j]), mx.array(A[j]), mx.array(R[j]), mx.array(S2[j]), mx.array(D[j]))

    print("== stage 1: value fitting (expectile V, twin Q, policy untouched)")
    p_before = np.array(tree_flatten(pnet.parameters())[0][1])
    hist = []
    state = [qnet.state, qtarget.state, vnet.state, opt_q.state, opt_v.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def value_step(s, a, r, s2, d):
        q1t, q2t = qtarget(s)
        qt_min = mx.stop_gradient(pick(mx.minimum(q1t, q2t), a))
        lv, gv = v_grad(vnet, qt_min, s)
        opt_v.update(vnet, gv)
        target = mx.stop_gradient(r + GAMMA * (1 - d) * vnet(s2)[:, 0])
        lq, gq = q_grad(qnet, s, a, target)
        opt_q.update(qnet, gq)
        soft = [(k, (1 - TAU) * x + TAU * y) for (k, x), (_, y) in
                zip(tree_flatten(qtarget.parameters()), tree_flatten(qnet.parameters()))]
        qtarget.update(tree_unflatten(soft))
        return lv, lq

    for it in range(1, STAGE1 + 1):
        lv, lq = value_step(*batch())
        mx.eval(lv, lq, state)
        hist.append((lv.item(), lq.item()))
        if it % 200 == 0:
            h = np.mean(hist[-200:], axis=0)
            vs = vnet(mx.array(S[:2000]))[:, 0]
            print(f"it {it:5d} | V expectile loss {h[0]:.4f} | Q loss {h[1]:.4f} | mean V {vs.mean().item():.3f}")
    p_after = np.array(tree_flatten(pnet.parameters())[0][1])
    print(f"policy weights unchanged in stage 1: {np.array_equal(p_before, p_after)}")

    qnet.freeze(); vnet.freeze()
    q1, q2 = qnet(mx.array(S))
    adv_all = pick(mx.minimum(q1, q2), mx.array(A)) - vnet(mx.array(S))[:, 0]
    W = np.array(mx.minimum(mx.exp(BETA * adv_all), 100.0))
    print(f"advantage weights: median {np.median(W):.3f}, max {W.max():.1f}, "
          f"share clipped {np.mean(W >= 100.0):.3f}")

    print("== stage 2: policy extraction (advantage-weighted cloning, Q/V frozen)")
    hist = []
    for it in range(1, STAGE2 + 1):
        j = rng.integers(0, n, BATCH)
        lp, gp = p_grad(pnet, mx.array(S[j]), mx.array(A[j]), mx.array(W[j]))
        opt_p.update(pnet, gp)
        mx.eval(lp, pnet.parameters(), opt_p.state)
        hist.append(lp.item())
        if it % 150 == 0:
            print(f"it {it:5d} | weighted NLL {np.mean(hist[-150:]):.4f} | lr {float(opt_p.learning_rate):.2e}")

    def iql_policy(o, _rng):
        return np.array(mx.argmax(pnet(mx.array(o)), axis=1))

    def q_greedy(o, _rng):
        a, b = qnet(mx.array(o))
        return np.array(mx.argmax(mx.minimum(a, b), axis=1))

    def always_half(o, _rng):
        return np.ones(len(o), dtype=np.int64)

    print("evaluation, mean return over 600 simulated shifts (max 16):")
    res = {}
    for name, fn in [("old controller", old_controller),
                     ("old controller, no noise", lambda o, g: old_controller(o, g, noise=0.0)),
                     ("always half vent", always_half),
                     ("greedy on Q", q_greedy),
                     ("IQL policy", iql_policy)]:
        res[name] = rollout(fn)
        print(f"  {name:26s} {res[name]:+7.3f}")
    print(f"IQL policy beats the logged controller: {res['IQL policy'] > res['old controller']}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
