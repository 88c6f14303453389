"""REINFORCE on a 6-armed contextual bandit with micro-batch gradient accumulation.

The policy sees a 12-d context; the rewarding arm is argmax(W_true @ ctx).
Each optimizer update accumulates gradients from 4 micro-batches of rollouts.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

N_CTX, N_ARMS = 12, 6
MICRO_BS, ACCUM = 48, 4
UPDATES = 600

rng = np.random.default_rng(3)
W_true = rng.normal(size=(N_ARMS, N_CTX)).astype(np.float32)


def rollout(n):
    ctx = rng.normal(size=(n, N_CTX)).astype(np.float32)
    best = (ctx @ W_true.T).argmax(axis=1)
    return mx.array(ctx), mx.array(best)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_CTX, 128), nn.Tanh(), nn.Linear(128, 64), nn.Tanh())
        self.head = nn.Linear(64, N_ARMS)

    def __call__(self, x):
        return self.head(self.body(x))


def pg_loss(policy, ctx, actions, adv):
    logp = nn.log_softmax(policy(ctx), axis=-1)
    logp_a = mx.take_along_axis(logp, actions[:, None], axis=-1).squeeze(-1)
    return -mx.mean(adv * logp_a)


policy = Policy()
mx.eval(policy.parameters())
opt = optim.Adam(learning_rate=3e-3)
grad_fn = nn.value_and_grad(policy, pg_loss)
baseline = 0.0

t0 = time.time()
for upd in range(1, UPDATES + 1):
    accum_grads = None
    rewards_seen = []
    for mb in range(ACCUM):
        ctx, best = rollout(MICRO_BS)
        logits = policy(ctx)
        actions = mx.random.categorical(logits)
        reward = (actions == best).astype(mx.float32)
        mx.eval(actions, reward)
        r = np.array(reward)
        rewards_seen.append(r.mean())
        adv = mx.array(r - baseline)
        loss, grads_mb = grad_fn(policy, ctx, actions, adv)
        if grads_mb:
            accum_grads = (
                tree_map(mx.add, accum_grads, grads_mb)
                if accum_grads
                else grads_mb
            )
    accum_grads = tree_map(lambda g: g / ACCUM, accum_grads)
    grad_norm = np.linalg.norm(
        [np.linalg.norm(np.array(v).flatten()) for _, v in tree_flatten(accum_grads)]
    )
    opt.update(policy, accum_grads)
    mx.eval(policy.parameters(), opt.state)
    mean_r = float(np.mean(rewards_seen))
    baseline = 0.9 * baseline + 0.1 * mean_r
    if upd % 50 == 0 or upd == 1:
        print(f"update {upd:4d}/{UPDATES}  avg_reward={mean_r:.3f}  baseline={baseline:.3f}  "
              f"grad_norm={grad_norm:.4f}  ({time.time() - t0:.1f}s)")

# greedy evaluation on fresh contexts
ctx, best = rollout(4000)
greedy_acc = float(mx.mean((mx.argmax(policy(ctx), axis=-1) == best).astype(mx.float32)))
print(f"greedy accuracy on 4000 fresh contexts: {greedy_acc:.3f} (random = {1 / N_ARMS:.3f})")
