"""Orchard catch game learned from pixels with an advantage actor-critic.

Apples fall down a 5x5 frame (channel 0), a basket sits on the bottom row
(channel 1). Each episode drops 3 apples one after the other; the basket moves
left / stays / right. Catch +1, miss -1, every move costs 0.02.
A random basket loses on average, so early returns are negative by design.
"""
import os
import json
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

H, W = 5, 5
APPLES = 3
STEPS = APPLES * (H - 1)
BATCH = 32
UPDATES = 160
RESUME_AT = 80
WARMUP = 20

np_rng = np.random.default_rng(7)
mx.random.seed(7)


def frames(apple_r, apple_c, basket_c):
    n = apple_r.shape[0]
    f = np.zeros((n, H, W, 2), dtype=np.float32)
    f[np.arange(n), apple_r, apple_c, 0] = 1.0
    f[np.arange(n), H - 1, basket_c, 1] = 1.0
    return f


def rollout(policy_fn, n, rng):
    """Plays n episodes in lockstep. policy_fn(frames) -> actions in {0,1,2}."""
    apple_r = np.zeros(n, dtype=np.int64)
    apple_c = rng.integers(0, W, n)
    basket = rng.integers(0, W, n)
    obs, acts, rews = [], [], []
    for t in range(STEPS):
        f = frames(apple_r, apple_c, basket)
        a = policy_fn(f)
        basket = np.clip(basket + (a - 1), 0, W - 1)
        r = -0.02 * (a != 1)
        apple_r = apple_r + 1
        landed = apple_r == H - 1
        r = r + np.where(landed, np.where(basket == apple_c, 1.0, -1.0), 0.0)
        apple_c = np.where(landed, rng.integers(0, W, n), apple_c)
        apple_r = np.where(landed, 0, apple_r)
        obs.append(f)
        acts.append(a)
        rews.append(r.astype(np.float32))
    return np.stack(obs, 1), np.stack(acts, 1), np.stack(rews, 1)


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 16, kernel_size=3, padding=1)
        self.fc = nn.Linear(H * W * 16, 64)
        self.pi = nn.Linear(64, 3)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.relu(self.conv(x))
        h = nn.relu(self.fc(h.reshape(h.shape[0], -1)))
        return self.pi(h), self.v(h).squeeze(-1)


def a2c_loss(model, obs, acts, returns):
    logits, values = model(obs)
    logp_all = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    logp = mx.take_along_axis(logp_all, acts[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(returns - values)
    pg = -mx.mean(logp * adv)
    vloss = 0.5 * mx.mean((values - returns) ** 2)
    entropy = -mx.mean(mx.sum(mx.exp(logp_all) * logp_all, axis=-1))
    total = pg + 0.5 * vloss - 0.01 * entropy
    return total, (pg, vloss, entropy)


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARMUP), lambda s: mx.array(3e-3)], [WARMUP])
    return optim.Adam(learning_rate=sched)


def sample_policy(model, rng):
    def fn(f):
        logits, _ = model(mx.array(f))
        p = np.array(mx.softmax(logits, axis=-1))
        u = rng.random((p.shape[0], 1))
        return np.minimum((np.cumsum(p, axis=1) < u).sum(1), 2)
    return fn


def greedy_policy(model):
    def fn(f):
        logits, _ = model(mx.array(f))
        return np.array(mx.argmax(logits, axis=-1)).astype(np.int64)
    return fn


def tracker(f):
    # hand-written oracle: walk towards the apple column
    apple_c = f[:, :, :, 0].max(1).argmax(1)
    basket_c = f[:, H - 1, :, 1].argmax(1)
    return 1 + np.sign(apple_c - basket_c).astype(np.int64)


def random_policy(rng):
    return lambda f: rng.integers(0, 3, f.shape[0])


def mean_return(policy_fn, seed, n=400):
    _, _, r = rollout(policy_fn, n, np.random.default_rng(seed))
    return float(r.sum(1).mean())


print(f"reference returns over {APPLES} apples: random {mean_return(random_policy(np.random.default_rng(1)), 11):+.3f}"
      f"  tracker {mean_return(tracker, 11):+.3f}  (max {APPLES:+.1f})")

model = Agent()
mx.eval(model.parameters())
opt = make_optimizer()
step_fn = nn.value_and_grad(model, a2c_loss)
ckpt_dir = tempfile.mkdtemp()


def train(model, opt, first, last):
    for u in range(first, last + 1):
        obs, acts, rews = rollout(sample_policy(model, np_rng), BATCH, np_rng)
        rtg = np.flip(np.cumsum(np.flip(rews, 1), 1), 1).copy()
        o = mx.array(obs.reshape(-1, H, W, 2))
        a = mx.array(acts.reshape(-1).astype(np.int32))
        g = mx.array(rtg.reshape(-1))
        lr_now = opt.learning_rate.item()
        (total, (pg, vloss, ent)), grads = step_fn(model, o, a, g)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if u == 1 or u % 20 == 0:
            print(f"upd {u:4d} lr {lr_now:.2e} ep_return {rews.sum(1).mean():+.3f} "
                  f"pg_obj {pg.item():+.4f} v_loss {vloss.item():.4f} entropy {ent.item():.3f}")


train(model, opt, 1, RESUME_AT)
model.save_weights(os.path.join(ckpt_dir, "agent.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckpt_dir, "meta.json"), "w") as fh:
    json.dump({"update": RESUME_AT}, fh)
before = mean_return(greedy_policy(model), 21)
print(f"-- checkpoint at update {RESUME_AT}: greedy return {before:+.3f}")
del model, opt

model = Agent()
model.load_weights(os.path.join(ckpt_dir, "agent.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
step_fn = nn.value_and_grad(model, a2c_loss)
with open(os.path.join(ckpt_dir, "meta.json")) as fh:
    start = json.load(fh)["update"]
after = mean_return(greedy_policy(model), 21)
print(f"-- resumed from update {start}: greedy return {after:+.3f} (optimizer step {int(opt.step.item())})")
train(model, opt, start + 1, UPDATES)

final = mean_return(greedy_policy(model), 31)
print(f"final greedy return {final:+.3f} | random {mean_return(random_policy(np.random.default_rng(2)), 31):+.3f}"
      f" | tracker {mean_return(tracker, 31):+.3f}")
