# Hot-air balloon pilot trainer: a small policy learns when to burn, hold or vent so
# that the balloon holds a briefed altitude.  Toy envelope thermodynamics, simulated for
# 64 balloons at once; REINFORCE with a learned value baseline and an entropy bonus.
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_BAL, HORIZON, ITERS = 64, 40, 240
rng = np.random.default_rng(7)
mx.random.seed(7)


def reset(n):
    target = rng.uniform(250, 450, n)
    h = target + rng.uniform(-150, 150, n)
    v = rng.normal(0, 0.5, n)
    dT = rng.normal(0, 3, n)  # envelope temp above equilibrium, K
    return np.stack([h, v, dT, target], 1)


def step(s, a):
    h, v, dT, target = s.T
    dT = dT + np.where(a == 0, 2.5, np.where(a == 2, -3.0, -0.6))  # burn / hold / vent
    dT = np.clip(dT, -25, 25)
    acc = 0.08 * dT - 0.35 * v + rng.normal(0, 0.15, len(h))
    v = np.clip(v + acc, -6, 6)
    h = np.maximum(h + 6.0 * v, 0.0)
    reward = -np.abs(h - target) / 100.0 - 0.02 * (a == 0)  # fuel costs a little
    return np.stack([h, v, dT, target], 1), reward


def observe(s):
    h, v, dT, target = s.T
    return np.stack([(h - target) / 100.0, v / 2.0, dT / 10.0], 1).astype(np.float32)


class PilotNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(3, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())
        self.policy = nn.Linear(h, 3)
        self.value = nn.Linear(h, 1)

    def __call__(self, x):
        z = self.trunk(x)
        return self.policy(z), self.value(z).squeeze(-1)


def discounted(r, gamma=0.97):
    out = np.zeros_like(r)
    acc = np.zeros(r.shape[1])
    for t in range(r.shape[0] - 1, -1, -1):
        acc = r[t] + gamma * acc
        out[t] = acc
    return out


def loss_fn(model, obs, acts, rets, ent_coef):
    logits, values = model(obs)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, acts[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rets - values)
    adv = (adv - adv.mean()) / (adv.std() + 1e-6)
    pg = -(logp * adv).mean()
    vloss = 0.5 * ((values - rets) ** 2).mean()
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    return pg + 0.5 * vloss - ent_coef * ent, (pg, vloss, ent)


def rollout(policy_fn, n=N_BAL):
    s = reset(n)
    O, A, R = [], [], []
    for _ in range(HORIZON):
        o = observe(s)
        a = policy_fn(o)
        s, r = step(s, a)
        O.append(o); A.append(a); R.append(r)
    return np.array(O), np.array(A), np.array(R)


def bang_bang(o):  # a hand-written pilot rule, for reference
    err, vel = o[:, 0], o[:, 1]
    return np.where(err + 0.5 * vel < -0.1, 0, np.where(err + 0.5 * vel > 0.1, 2, 1))


model = PilotNet()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
lg = nn.value_and_grad(model, loss_fn)

rand_ret = rollout(lambda o: rng.integers(0, 3, len(o)), 512)[2].sum(0).mean()
rule_ret = rollout(bang_bang, 512)[2].sum(0).mean()


def sample_policy(o):
    logits, _ = model(mx.array(o))
    a = mx.random.categorical(logits)
    return np.array(a)


t0 = time.time()
smooth = None
width = 24
for it in range(1, ITERS + 1):
    O, A, R = rollout(sample_policy)
    G = discounted(R) / 10.0  # value head works in tens of reward units
    ent_coef = 0.02 * (1 - it / ITERS)
    (loss, (pg, vl, ent)), grads = lg(model, mx.array(O.reshape(-1, 3)), mx.array(A.reshape(-1).astype(np.int32)),
                                      mx.array(G.reshape(-1).astype(np.float32)), ent_coef)
    grads, gnorm = optim.clip_grad_norm(grads, 2.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, gnorm)
    ep_ret = float(R.sum(0).mean())
    smooth = ep_ret if smooth is None else 0.9 * smooth + 0.1 * ep_ret
    if it % 12 == 0 or it == 1:
        done = int(width * it / ITERS)
        bar = "#" * done + "." * (width - done)
        rate = it / (time.time() - t0)
        sys.stdout.write(
            f"pilot {it:3d}/{ITERS} [{bar}] {100 * it / ITERS:3.0f}% {rate:5.1f}it/s"
            f" | return {ep_ret:7.2f} (ema {smooth:7.2f}; random {rand_ret:.2f}, rule {rule_ret:.2f})"
            f" | pg {pg.item():+.3f} v {vl.item():.3f} H {ent.item():.3f} nats |g| {gnorm.item():.2f}\n"
        )
        sys.stdout.flush()

# greedy check flight
greedy = rollout(lambda o: np.array(mx.argmax(model(mx.array(o))[0], axis=-1)), 512)
R = greedy[2]
err_end = np.abs(R[-5:] * 100).mean()
acts = np.bincount(greedy[1].reshape(-1), minlength=3) / greedy[1].size
print(f"check flight (512 balloons, greedy): return {R.sum(0).mean():.2f}  vs random {rand_ret:.2f}, rule {rule_ret:.2f}")
print(f"  mean |alt error| last 5 steps ~ {err_end:.0f} m   burn/hold/vent = {acts[0]:.0%}/{acts[1]:.0%}/{acts[2]:.0%}")
print(f"  wall {time.time() - t0:.1f}s")
