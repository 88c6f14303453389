"""Escape-room game master: learn WHEN and HOW MUCH to hint.

Contextual bandit trained with REINFORCE (+ running baseline, entropy bonus).
Each team snapshot has 5 readings; the game master picks one of 4 actions:
  0 = stay silent, 1 = nudge, 2 = clue, 3 = give the full solution.
Guest satisfaction (0-10 scale) is noisy; the learned policy should move
from the random-policy level towards the oracle level.
"""
import json
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_ACT = 4
ACTS = ["silent", "nudge", "clue", "solution"]


def snapshots(n):
    elapsed = rng.uniform(0, 1, n)        # share of the 60 minutes used
    solved = rng.uniform(0, 1, n)         # share of puzzles solved
    size = rng.integers(2, 8, n) / 7.0    # team size
    stuck = rng.exponential(0.3, n).clip(0, 1.5)  # minutes stuck / 10
    mood = rng.normal(0, 1, n)            # frustration signal (camera)
    return np.stack([elapsed, solved, size, stuck, mood], 1).astype(np.float32)


def true_utility(x):
    e, s, z, st, m = x.T
    behind = e - s                      # >0: behind schedule
    u0 = 7.0 - 3.0 * np.maximum(behind, 0) - 1.5 * st - 0.5 * m
    u1 = 6.6 + 1.5 * st - 1.0 * np.maximum(-behind, 0) + 0.3 * m
    u2 = 5.8 + 3.0 * np.maximum(behind, 0) + 1.0 * st - 1.5 * np.maximum(-behind, 0)
    u3 = 3.5 + 6.0 * np.maximum(behind - 0.3, 0) + 0.8 * m - 1.0 * z
    return np.stack([u0, u1, u2, u3], 1).astype(np.float32)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, N_ACT)

    def __call__(self, x):
        h = nn.tanh(self.l1(x))
        h = nn.tanh(self.l2(h))
        return self.out(h)


policy = Policy()
mx.eval(policy.parameters())

ITERS, BATCH = 500, 256
# learning rate ramps up from exactly 0.0
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, 80), optim.cosine_decay(4e-3, ITERS - 80, 4e-4)], [80])
opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
ENT_COEF = 0.01


def pg_loss(model, x, a, adv):
    logits = model(x)
    logp_all = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    logp = mx.take_along_axis(logp_all, a[:, None], axis=1).squeeze(1)
    ent = -(mx.exp(logp_all) * logp_all).sum(1).mean()
    return -(adv * logp).mean() - ENT_COEF * ent, ent


step = nn.value_and_grad(policy, pg_loss)

# fixed held-out snapshots to report the greedy policy
x_eval = snapshots(2000)
u_eval = true_utility(x_eval)
oracle_ref = float(u_eval.max(1).mean())
random_ref = float(u_eval.mean())
silent_ref = float(u_eval[:, 0].mean())

baseline = 0.0
first_grads_checked = False
for it in range(1, ITERS + 1):
    x = snapshots(BATCH)
    xm = mx.array(x)
    a = mx.random.categorical(policy(xm))
    a_np = np.array(a)
    u = true_utility(x)[np.arange(BATCH), a_np]
    r = u + rng.normal(0, 1.2, BATCH).astype(np.float32)   # noisy satisfaction
    baseline = r.mean() if it == 1 else 0.9 * baseline + 0.1 * r.mean()
    adv = mx.array((r - baseline) / (r.std() + 1e-6))
    (loss, ent), grads = step(policy, xm, a, adv)
    if not first_grads_checked:
        from mlx.utils import tree_flatten
        zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
        print(json.dumps({"grad_check": "ok" if not zero else "zero", "zero_params": zero}))
        first_grads_checked = True
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, ent)

    if it % 25 == 0 or it == 1:
        greedy = np.array(mx.argmax(policy(mx.array(x_eval)), axis=1))
        g_sat = float(u_eval[np.arange(len(x_eval)), greedy].mean())
        share = np.bincount(greedy, minlength=N_ACT) / len(greedy)
        print(json.dumps({
            "iter": it,
            "lr": round(float(opt.learning_rate), 6),
            "batch_satisfaction": round(float(r.mean()), 3),
            "greedy_satisfaction": round(g_sat, 3),
            "random_ref": round(random_ref, 3),
            "oracle_ref": round(oracle_ref, 3),
            "regret": round(oracle_ref - g_sat, 3),
            "entropy_nats": round(float(ent), 3),
            "action_mix": {ACTS[k]: f"{100 * share[k]:.0f}%" for k in range(N_ACT)},
        }))

print(json.dumps({"final": True, "greedy_satisfaction": round(g_sat, 3),
                  "silent_ref": round(silent_ref, 3), "random_ref": round(random_ref, 3),
                  "oracle_ref": round(oracle_ref, 3)}))
