"""Inshore skipper's daily choice of fishing ground (5 grounds) from the morning
forecast: a contextual bandit learned with a maximum-entropy softmax policy,
a critic that predicts the day's net takings per ground, and an entropy
temperature that is itself learned towards a target entropy.

Net takings = catch value minus fuel, in hundreds of pounds, so bad days are
negative. The actor objective is E_pi[alpha*log pi - Q] and is negative by
construction; the temperature loss changes sign as the entropy crosses its
target.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(4387)
mx.random.seed(4387)
N_G, N_CTX = 5, 5
FUEL = np.array([0.3, 0.6, 1.0, 1.6, 2.4])  # farther grounds burn more fuel


def forecast(n):
    wind = rng.gamma(2.0, 6.0, n)                   # knots
    sst = rng.normal(0.0, 1.0, n)                   # sea temp anomaly
    moon = rng.uniform(0, 2 * np.pi, n)
    tide = rng.uniform(-1, 1, n)                    # springs (+1) .. neaps (-1)
    ctx = np.stack([(wind - 12) / 8.0, sst, np.sin(moon), np.cos(moon), tide], 1)
    return ctx.astype(np.float32), wind


def mean_takings(ctx, wind):
    """Made-up expected net takings per ground (hundreds of pounds)."""
    sst, ms, mc, tide = ctx[:, 1], ctx[:, 2], ctx[:, 3], ctx[:, 4]
    rough = np.clip((wind - 15) / 10.0, 0, None)
    catch = np.stack([
        1.0 + 0.3 * tide,                                # harbour mouth
        1.4 + 0.9 * sst - 0.3 * rough,                   # warm-water bank
        2.0 + 0.8 * mc - 0.8 * rough,                    # moon-sensitive squid ground
        3.0 - 1.0 * sst + 0.6 * tide - 1.8 * rough,      # offshore reef
        4.2 + 0.7 * ms - 3.5 * rough,                    # shelf edge
    ], 1)
    return catch - FUEL


def day_takings(ctx, wind, a):
    m = mean_takings(ctx, wind)[np.arange(len(a)), a]
    return (m + rng.normal(0, 0.8, len(a))).astype(np.float32)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_CTX, 64), nn.ReLU(),
                                 nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, N_G))

    def __call__(self, x):
        return self.net(x)


class Actor(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(N_CTX, 64), nn.Tanh(),
                                 nn.Linear(64, N_G))

    def __call__(self, x):
        return self.net(x)


class Temperature(nn.Module):
    def __init__(self, init=1.0):
        super().__init__()
        self.log_alpha = mx.array([math.log(init)])


critic, actor, temp = Critic(), Actor(), Temperature()
opt_c = optim.Adam(learning_rate=1e-3)
opt_a = optim.Adam(learning_rate=5e-4)
opt_t = optim.Adam(learning_rate=3e-3)
TARGET_H = 0.35 * math.log(N_G)


def critic_loss(critic, x, a, r):
    q = critic(x)
    q_a = mx.take_along_axis(q, a[:, None], axis=1).squeeze(1)
    return mx.mean((q_a - r) ** 2)


def actor_loss(actor, x, q, alpha):
    logp = nn.log_softmax(actor(x), axis=-1)
    p = mx.exp(logp)
    return mx.mean(mx.sum(p * (alpha * logp - q), axis=-1))


def temp_loss(temp, entropy):
    # J(alpha) = alpha * (H - H_target); gradient on log alpha
    return mx.mean(mx.exp(temp.log_alpha) * (entropy - TARGET_H))


c_vg = nn.value_and_grad(critic, critic_loss)
a_vg = nn.value_and_grad(actor, actor_loss)
t_vg = nn.value_and_grad(temp, temp_loss)

# replay of past days, capped, oldest overwritten
CAP = 20000
buf_x = np.zeros((CAP, N_CTX), np.float32)
buf_a = np.zeros(CAP, np.int32)
buf_r = np.zeros(CAP, np.float32)
n_stored, head = 0, 0

# reference policies on a held evaluation fleet
ev_ctx, ev_wind = forecast(20000)
ev_mean = mean_takings(ev_ctx, ev_wind)
oracle = ev_mean.max(1).mean()
uniform = ev_mean.mean()
best_single = ev_mean.mean(0).max()
print(f"references on 20000 forecast days (hundreds of pounds/day): oracle {oracle:+.3f}, "
      f"best single ground {best_single:+.3f}, uniform random {uniform:+.3f}")
print(f"target entropy {TARGET_H:.3f} nats (uniform {math.log(N_G):.3f})")

x0 = mx.array(ev_ctx[:64])
g_a = a_vg(actor, x0, mx.zeros((64, N_G)), mx.array(1.0))[1]
g_c = c_vg(critic, x0, mx.zeros(64, dtype=mx.int32), mx.ones(64))[1]
print("gradient check: actor {}/{}, critic {}/{} arrays non-zero".format(
    sum(mx.abs(v).max().item() > 0 for _, v in tree_flatten(g_a)), len(tree_flatten(g_a)),
    sum(mx.abs(v).max().item() > 0 for _, v in tree_flatten(g_c)), len(tree_flatten(g_c))))

ROUNDS, DAYS, UPDATES, BATCH = 300, 64, 4, 128
hdr = (f"{'round':>5} {'days':>6} {'takings':>8} {'greedy':>8} {'critic':>7} "
       f"{'actor':>8} {'alpha':>7} {'t-loss':>8} {'entropy':>7} {'secs':>5}")
win = {"r": [], "c": [], "a": [], "t": [], "h": []}
t0 = time.time()
for rnd in range(1, ROUNDS + 1):
    ctx, wind = forecast(DAYS)
    probs = np.array(mx.softmax(actor(mx.array(ctx)), axis=-1), dtype=np.float64)
    probs /= probs.sum(1, keepdims=True)
    acts = np.array([rng.choice(N_G, p=p) for p in probs], np.int32)
    rew = day_takings(ctx, wind, acts)
    idx = (head + np.arange(DAYS)) % CAP
    buf_x[idx], buf_a[idx], buf_r[idx] = ctx, acts, rew
    head = (head + DAYS) % CAP
    n_stored = min(n_stored + DAYS, CAP)
    win["r"].append(rew.mean())

    for _ in range(UPDATES):
        j = rng.integers(0, n_stored, BATCH)
        xb = mx.array(buf_x[j])
        lc, gc = c_vg(critic, xb, mx.array(buf_a[j]), mx.array(buf_r[j]))
        opt_c.update(critic, gc)
        q = mx.stop_gradient(critic(xb))
        alpha = mx.stop_gradient(mx.exp(temp.log_alpha))[0]
        la, ga = a_vg(actor, xb, q, alpha)
        opt_a.update(actor, ga)
        logp = nn.log_softmax(actor(xb), axis=-1)
        ent = mx.stop_gradient(-mx.sum(mx.exp(logp) * logp, axis=-1))
        lt, gt = t_vg(temp, ent)
        opt_t.update(temp, gt)
        mx.eval(lc, la, lt, ent, critic.parameters(), actor.parameters(),
                temp.parameters(), opt_c.state, opt_a.state, opt_t.state)
        win["c"].append(lc.item()); win["a"].append(la.item())
        win["t"].append(lt.item()); win["h"].append(ent.mean().item())

    if rnd % 25 == 0:
        if rnd % 150 == 25:
            print(hdr)
        greedy_a = np.array(mx.argmax(actor(mx.array(ev_ctx)), axis=-1))
        greedy = ev_mean[np.arange(len(greedy_a)), greedy_a].mean()
        print(f"{rnd:5d} {rnd * DAYS:6d} {np.mean(win['r']):+8.3f} {greedy:+8.3f} "
              f"{np.mean(win['c']):7.3f} {np.mean(win['a']):+8.3f} "
              f"{math.exp(temp.log_alpha.item()):7.4f} {np.mean(win['t']):+8.4f} "
              f"{np.mean(win['h']):7.3f} {time.time() - t0:5.1f}")
        win = {k: [] for k in win}

greedy_a = np.array(mx.argmax(actor(mx.array(ev_ctx)), axis=-1))
greedy = ev_mean[np.arange(len(greedy_a)), greedy_a].mean()
shares = np.bincount(greedy_a, minlength=N_G) / len(greedy_a)
print(f"final greedy policy {greedy:+.3f} per day: {100 * (greedy - uniform) / (oracle - uniform):.1f}% "
      f"of the random-to-oracle gap closed; regret {oracle - greedy:.3f}")
print("ground shares under greedy policy: " + ", ".join(f"g{i} {100 * s:.1f}%" for i, s in enumerate(shares)))
