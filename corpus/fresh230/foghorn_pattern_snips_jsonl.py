"""Offline policy learning for a foghorn controller from logged soundings.

Each night the old controller picked one of 5 horn patterns from 6 weather
readings and we logged (readings, pattern, propensity, ship-acknowledged?).
We fit a new softmax policy with a self-normalised importance-weighted (SNIPS)
objective and a reward model (direct method) side by side, and report the
true value of the learned policy next to the logging policy and the oracle.
"""
import json
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2031)
D, K = 6, 5
N_LOG, N_EVAL = 6000, 2000

W_true = rng.normal(0, 1.0, (D, K)).astype(np.float32)
b_true = rng.normal(-0.5, 0.3, (K,)).astype(np.float32)
L_log = rng.normal(0, 0.6, (D, K)).astype(np.float32)


def true_prob(x):
    return 1.0 / (1.0 + np.exp(-(x @ W_true + b_true)))


def logging_policy(x):
    z = x @ L_log
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return 0.8 * p + 0.2 / K


X = rng.normal(0, 1, (N_LOG, D)).astype(np.float32)
P_log = logging_policy(X)
A = np.array([rng.choice(K, p=p) for p in P_log])
prop = P_log[np.arange(N_LOG), A].astype(np.float32)
R = (rng.random(N_LOG) < true_prob(X)[np.arange(N_LOG), A]).astype(np.float32)

X_ev = rng.normal(0, 1, (N_EVAL, D)).astype(np.float32)
Q_ev = true_prob(X_ev)
logging_value = float((logging_policy(X_ev) * Q_ev).sum(1).mean())
oracle_value = float(Q_ev.max(1).mean())


class Agent(nn.Module):
    def __init__(self):
        super().__init__()
        self.policy = nn.Sequential(nn.Linear(D, 48), nn.Tanh(), nn.Linear(48, K))
        self.reward = nn.Sequential(nn.Linear(D, 48), nn.ReLU(), nn.Linear(48, K))


def losses(agent, x, a, p0, r):
    logp = nn.log_softmax(agent.policy(x), axis=-1)
    pi_a = mx.exp(mx.take_along_axis(logp, a[:, None], axis=-1).squeeze(-1))
    w = mx.minimum(pi_a / p0, 20.0)
    snips = (w * r).sum() / w.sum()
    q = mx.sigmoid(agent.reward(x))
    q_a = mx.take_along_axis(q, a[:, None], axis=-1).squeeze(-1)
    dm_mse = ((q_a - r) ** 2).mean()
    return -snips + dm_mse, (snips, dm_mse, w.mean())


def total(agent, x, a, p0, r):
    return losses(agent, x, a, p0, r)[0]


agent = Agent()
mx.eval(agent.parameters())
EPOCHS, BATCH = 14, 200
steps_per_epoch = N_LOG // BATCH
warm = steps_per_epoch
lr = optim.join_schedules(
    [optim.linear_schedule(0.0, 1.5e-3, warm),
     optim.cosine_decay(1.5e-3, EPOCHS * steps_per_epoch - warm, 1e-5)],
    [warm])
opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)
step_fn = nn.value_and_grad(agent, total)

Xm, Am, Pm, Rm = mx.array(X), mx.array(A), mx.array(prop), mx.array(R)
Xe, Qe = mx.array(X_ev), mx.array(Q_ev)

# gradient audit: both heads must receive signal
_, g0 = step_fn(agent, Xm[:BATCH], Am[:BATCH], Pm[:BATCH], Rm[:BATCH])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).sum()) == 0.0]
print(json.dumps({"event": "grad_audit", "n_params": len(tree_flatten(g0)), "zero_grad": zero}))

for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(N_LOG))
    s_sum = m_sum = w_sum = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        (loss, (snips, mse, wbar)), grads = nn.value_and_grad(agent, losses)(
            agent, Xm[idx], Am[idx], Pm[idx], Rm[idx])
        opt.update(agent, grads)
        mx.eval(agent.parameters(), opt.state, loss, snips, mse, wbar)
        s_sum += snips.item(); m_sum += mse.item(); w_sum += wbar.item()
    pi_ev = mx.softmax(agent.policy(Xe), axis=-1)
    true_val = (pi_ev * Qe).sum(axis=1).mean().item()
    greedy_val = mx.take_along_axis(Qe, mx.argmax(pi_ev, axis=1)[:, None], axis=1).mean().item()
    print(json.dumps({
        "epoch": epoch, "lr": round(float(opt.learning_rate.item()), 6),
        "snips_est": round(s_sum / steps_per_epoch, 4),
        "dm_mse": round(m_sum / steps_per_epoch, 4),
        "mean_w": round(w_sum / steps_per_epoch, 3),
        "true_value": round(true_val, 4), "greedy_value": round(greedy_val, 4),
        "logging_value": round(logging_value, 4), "oracle_value": round(oracle_value, 4),
    }))
print(json.dumps({"event": "summary", "lift_over_logging_pct":
                  round(100 * (true_val - logging_value) / logging_value, 1),
                  "gap_to_oracle": round(oracle_value - true_val, 4)}))
