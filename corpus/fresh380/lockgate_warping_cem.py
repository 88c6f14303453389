"""Canal lock: warping a narrowboat to the cill mark with a rope winch.

Cross-entropy-method policy search. A small MLP policy picks one of three
winch commands (pay out / hold / haul) from the boat's offset and speed.
Each round we roll out a batch of episodes with the current policy, keep the
elite fraction by return, and refit the policy to the elite state-action
pairs with a cross-entropy loss. Returns are negative by construction (cost
per step), so "better" means closer to zero.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
ROUNDS = 14
EPISODES = 96
ELITE_FRAC = 0.2
HORIZON = 50
FIT_EPOCHS = 6
BATCH = 256
DT = 0.2

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def env_reset(n):
    pos = rng.uniform(-3.0, 3.0, size=n)       # metres from the cill mark
    vel = rng.uniform(-0.3, 0.3, size=n)
    return np.stack([pos, vel], axis=1).astype(np.float32)


def env_step(state, action):
    force = (action.astype(np.float32) - 1.0) * 0.6   # -0.6, 0, +0.6
    pos, vel = state[:, 0], state[:, 1]
    drift = 0.05 * rng.standard_normal(pos.shape).astype(np.float32)
    vel = 0.92 * vel + DT * force + drift * DT
    pos = pos + DT * vel
    cost = np.abs(pos) + 0.3 * np.abs(vel) + 0.02 * np.abs(force)
    return np.stack([pos, vel], axis=1).astype(np.float32), -cost


class Policy(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 3)

    def __call__(self, x):
        x = x * mx.array([0.5, 2.0])
        h = nn.tanh(self.l1(x))
        h = nn.tanh(self.l2(h))
        return self.out(h)


def rollout(policy, n, greedy=False):
    s = env_reset(n)
    states, actions = [], []
    ret = np.zeros(n, dtype=np.float32)
    for _ in range(HORIZON):
        logits = policy(mx.array(s))
        if greedy:
            a = mx.argmax(logits, axis=1)
        else:
            a = mx.random.categorical(logits)
        a = np.array(a)
        states.append(s)
        actions.append(a)
        s, r = env_step(s, a)
        ret += r
    return np.stack(states, 1), np.stack(actions, 1), ret


def scripted_return(n):
    s = env_reset(n)
    ret = np.zeros(n, dtype=np.float32)
    for _ in range(HORIZON):
        u = -1.2 * s[:, 0] - 2.5 * s[:, 1]
        a = np.where(u > 0.15, 2, np.where(u < -0.15, 0, 1))
        s, r = env_step(s, a)
        ret += r
    return float(ret.mean())


def random_return(n):
    s = env_reset(n)
    ret = np.zeros(n, dtype=np.float32)
    for _ in range(HORIZON):
        a = rng.integers(0, 3, size=n)
        s, r = env_step(s, a)
        ret += r
    return float(ret.mean())


policy = Policy()
mx.eval(policy.parameters())
opt = optim.Adam(learning_rate=3e-3)


def ce_loss(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


loss_and_grad = nn.value_and_grad(policy, ce_loss)


def entropy_of(model, x):
    logp = nn.log_softmax(model(x), axis=1)
    return float(-(mx.exp(logp) * logp).sum(axis=1).mean())


print(f"baselines: random winch {random_return(400):8.2f} | scripted PD {scripted_return(400):8.2f}")
print("round | mean return | elite cut | fit CE | policy entropy | greedy return | s")
t0 = time.time()
n_elite = int(EPISODES * ELITE_FRAC)
for rnd in range(1, ROUNDS + 1):
    S, A, R = rollout(policy, EPISODES)
    order = np.argsort(-R)
    elite = order[:n_elite]
    xs = S[elite].reshape(-1, 2)
    ys = A[elite].reshape(-1)
    cut = float(R[elite[-1]])

    fit_losses = []
    for ep in range(FIT_EPOCHS):
        perm = rng.permutation(xs.shape[0])
        for i in range(0, xs.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = loss_and_grad(policy, mx.array(xs[idx]), mx.array(ys[idx]))
            opt.update(policy, grads)
            mx.eval(policy.parameters(), opt.state, loss)
            fit_losses.append(loss.item())
    ent = entropy_of(policy, mx.array(xs))
    _, _, Rg = rollout(policy, 200, greedy=True)
    print(f"{rnd:5d} | {R.mean():11.2f} | {cut:9.2f} | {np.mean(fit_losses):6.3f} | "
          f"{ent:14.3f} | {Rg.mean():13.2f} | {time.time() - t0:4.1f}")

_, _, final = rollout(policy, 1000, greedy=True)
print(f"final greedy return over 1000 fresh episodes: {final.mean():.2f} "
      f"(scripted PD {scripted_return(1000):.2f}, random {random_return(1000):.2f})")
