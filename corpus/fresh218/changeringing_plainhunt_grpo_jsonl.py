# Change ringing on 5 bells: learn to ring a valid "change" from any row.
# A change is valid when every bell moves at most one place and at least one
# pair swaps.  The policy writes the next row bell by bell (sampling, with
# already-placed bells masked out); it is trained GRPO-style: G rows per
# previous row, group-relative advantages, and a KL pull towards a frozen copy
# of the initial policy whose weight beta is switched on after a warm period.
import json
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

NB = 5           # bells
GROUP = 8        # rows sampled per previous row
ROWS = 32        # previous rows per step
STEPS = 260
BETA_MAX = 0.04
BETA_ON = 80     # beta stays 0 until this step, then ramps over 60 steps

random.seed(7)
mx.random.seed(7)


class Ringer(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(NB * NB + NB + NB, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, NB)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def features(prev, placed, pos):
    # prev: (N, NB) ints, placed: (N, NB) 0/1 float, pos: int
    n = prev.shape[0]
    prev_oh = mx.eye(NB)[prev].reshape(n, NB * NB)
    pos_oh = mx.broadcast_to(mx.eye(NB)[pos][None], (n, NB))
    return mx.concatenate([prev_oh, placed, pos_oh], axis=1)


def ring(model, prev, greedy=False):
    """Sample one row per input row. Returns (N, NB) int array of bells."""
    n = prev.shape[0]
    placed = mx.zeros((n, NB))
    cols = []
    for pos in range(NB):
        logits = model(features(prev, placed, pos))
        logits = mx.where(placed > 0, -1e9, logits)
        if greedy:
            b = mx.argmax(logits, axis=1)
        else:
            b = mx.random.categorical(logits)
        cols.append(b)
        placed = placed + mx.eye(NB)[b]
    rows = mx.stack(cols, axis=1)
    return mx.stop_gradient(rows)


def token_logps(model, prev, rows):
    """Log-prob of each placed bell under model, teacher-forced. (N, NB)"""
    n = prev.shape[0]
    placed = mx.zeros((n, NB))
    out = []
    for pos in range(NB):
        logits = model(features(prev, placed, pos))
        logits = mx.where(placed > 0, -1e9, logits)
        lp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
        b = rows[:, pos]
        out.append(mx.take_along_axis(lp, b[:, None], axis=1)[:, 0])
        placed = placed + mx.eye(NB)[b]
    return mx.stack(out, axis=1)


def score(prev, rows):
    """Reward: share of bells moving <= 1 place, +0.5 for a valid change, -1 for no change."""
    # place of bell b in a row: argsort of the row
    p_prev = mx.argsort(prev, axis=1).astype(mx.int32)
    p_new = mx.argsort(rows, axis=1).astype(mx.int32)
    near = (mx.abs(p_prev - p_new) <= 1).astype(mx.float32)
    moved = mx.any(p_prev != p_new, axis=1)
    valid = mx.logical_and(mx.all(near > 0, axis=1), moved).astype(mx.float32)
    still = 1.0 - moved.astype(mx.float32)
    return near.mean(axis=1) + 0.5 * valid - still, valid


def random_rows(n):
    return mx.array([random.sample(range(NB), NB) for _ in range(n)], dtype=mx.int32)


policy = Ringer()
reference = Ringer()
reference.update(policy.parameters())          # frozen copy of the start policy
reference.freeze()
mx.eval(policy.parameters(), reference.parameters())

opt = optim.Adam(learning_rate=4e-3)


def beta_at(step):
    if step < BETA_ON:
        return 0.0
    return BETA_MAX * min(1.0, (step - BETA_ON) / 60.0)


def loss_fn(model, prev, rows, adv, ref_lp, beta):
    lp = token_logps(model, prev, rows)                      # (N, NB)
    pg = -(adv[:, None] * lp).sum(axis=1).mean()
    d = ref_lp - lp
    kl = (mx.exp(d) - d - 1.0).sum(axis=1).mean()            # k3 estimator
    return pg + beta * kl, (pg, kl)


grad_fn = nn.value_and_grad(policy, loss_fn)

held_prev = random_rows(400)
ref_rows = ring(reference, held_prev)
ref_r, ref_valid = score(held_prev, ref_rows)
ref_reward = ref_r.mean().item()
ref_valid_pct = 100.0 * ref_valid.mean().item()

for step in range(1, STEPS + 1):
    prev = random_rows(ROWS)
    prev_g = mx.repeat(prev, GROUP, axis=0)
    rows = ring(policy, prev_g)
    r, valid = score(prev_g, rows)
    rg = r.reshape(ROWS, GROUP)
    adv = (rg - rg.mean(axis=1, keepdims=True)) / (mx.sqrt(rg.var(axis=1, keepdims=True, ddof=1)) + 1e-4)
    adv = mx.stop_gradient(adv.reshape(-1))
    ref_lp = mx.stop_gradient(token_logps(reference, prev_g, rows))
    beta = beta_at(step)
    (loss, (pg, kl)), grads = grad_fn(policy, prev_g, rows, adv, ref_lp, beta)
    if step == 1:
        norms = {k: round(mx.linalg.norm(v).item(), 5) for k, v in tree_flatten(grads)}
        print(json.dumps({"audit": "grad_norms_step1", **norms}))
    opt.update(policy, grads)
    mx.eval(policy.parameters(), opt.state, loss, pg, kl, r, valid)

    if step % 20 == 0 or step == 1:
        g_rows = ring(policy, held_prev, greedy=True)
        g_r, g_valid = score(held_prev, g_rows)
        rec = {
            "step": step,
            "beta": round(beta, 4),
            "loss": round(loss.item(), 4),
            "pg": round(pg.item(), 4),
            "kl_ref": round(kl.item(), 4),
            "reward": round(r.mean().item(), 4),
            "valid_pct": round(100.0 * valid.mean().item(), 1),
            "greedy_valid_pct": round(100.0 * g_valid.mean().item(), 1),
            "ref_reward": round(ref_reward, 4),
            "ref_valid_pct": round(ref_valid_pct, 1),
        }
        print(json.dumps(rec))

final_rows = ring(policy, held_prev, greedy=True)
fr, fv = score(held_prev, final_rows)
print(json.dumps({
    "summary": "done",
    "held_out_rows": held_prev.shape[0],
    "greedy_reward": round(fr.mean().item(), 4),
    "greedy_valid_pct": round(100.0 * fv.mean().item(), 1),
    "ref_reward": round(ref_reward, 4),
    "ref_valid_pct": round(ref_valid_pct, 1),
    "example": {"from": held_prev[0].tolist(), "to": final_rows[0].tolist()},
}))
