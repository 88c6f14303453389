"""Contextual-bandit actor-critic in MLX, ported from an SB3 setup.

Policy and value share a small trunk; each update samples a batch of
contexts, draws actions from the policy, and takes one Adam step on
policy-gradient + value + entropy losses. The learning rate follows an
SB3-style linear schedule (a function of progress_remaining).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_UPDATES = 1500
BATCH = 256
N_ARMS = 3
CTX = 4

rng = np.random.default_rng(7)
W_true = rng.normal(size=(CTX, N_ARMS)).astype(np.float32)


def sample_contexts(n):
    x = rng.normal(size=(n, CTX)).astype(np.float32)
    best = (x @ W_true).argmax(axis=1)
    return x, best


def linear_schedule(initial_value):
    """SB3 docs recipe: value decreases linearly with progress_remaining (1 -> 0)."""
    def func(progress_remaining):
        return progress_remaining * initial_value
    return func


class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(CTX, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.pi = nn.Linear(64, N_ARMS)
        self.v = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.pi(h), self.v(h).squeeze(-1)


def loss_fn(model, x, actions, rewards):
    logits, values = model(x)
    logp_all = nn.log_softmax(logits, axis=-1)
    logp = mx.take_along_axis(logp_all, actions[:, None], axis=-1).squeeze(-1)
    adv = mx.stop_gradient(rewards - values)
    pg = -(logp * adv).mean()
    vf = ((values - rewards) ** 2).mean()
    ent = -(mx.exp(logp_all) * logp_all).sum(-1).mean()
    return pg + 0.5 * vf - 0.01 * ent, (pg, vf, ent)


mx.random.seed(0)
model = ActorCritic()
mx.eval(model.parameters())

lr_schedule = linear_schedule(3e-3)
optimizer = optim.Adam(learning_rate=float(lr_schedule(1.0)))

step_fn = nn.value_and_grad(model, loss_fn)

x_eval_np, best_eval = sample_contexts(2000)
x_eval = mx.array(x_eval_np)

t0 = time.time()
print(f"{'update':>6} {'lr':>10} {'reward':>7} {'greedy':>7} {'vf_loss':>10} {'entropy':>8} {'|theta|':>10}")
for update in range(1, N_UPDATES + 1):
    progress_remaining = 1.0 - (update - 1) / N_UPDATES
    optimizer.learning_rate = lr_schedule(progress_remaining)
    x_np, best = sample_contexts(BATCH)
    x = mx.array(x_np)
    logits, _ = model(x)
    actions = mx.random.categorical(logits)
    a_np = np.array(actions)
    r_np = (a_np == best).astype(np.float32) + 0.1 * rng.normal(size=BATCH).astype(np.float32)
    rewards = mx.array(r_np)

    (loss, (pg, vf, ent)), grads = step_fn(model, x, actions, rewards)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)

    if update % 150 == 0 or update == 1:
        pnorm = sum(float((p * p).sum()) for _, p in tree_flatten(model.parameters())) ** 0.5
        lr_now = float(optimizer.learning_rate)
        greedy = float((np.array(model(x_eval)[0].argmax(-1)) == best_eval).mean())
        print(f"{update:6d} {lr_now:10.3e} {float((a_np == best).mean()):7.3f} {greedy:7.3f} "
              f"{float(vf):10.4f} {float(ent):8.4f} {pnorm:10.2f}")

print(f"done in {time.time() - t0:.1f}s")
