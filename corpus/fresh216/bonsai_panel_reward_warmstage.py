# Reward model for bonsai pruning plans: an arborist panel saw two plans (A, B) for the
# same tree and said which one it preferred, plus how many of 5 judges agreed.
# Pairwise Bradley-Terry loss with a confidence margin; LR warms up from exactly 0;
# stage 2 adds the close calls (near-tie pairs), so the loss goes up there by design.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FEATS = 10
rng = np.random.default_rng(216)
mx.random.seed(216)
W_TRUE = rng.normal(size=FEATS) / math.sqrt(FEATS)


def plan_quality(x):
    return np.tanh(x @ W_TRUE * 1.5) + 0.5 * np.sin(x[:, 0] * x[:, 3]) - 0.25 * x[:, 5] ** 2


def make_pairs(n, min_gap, max_gap):
    a_list, b_list, votes = [], [], []
    while sum(len(a) for a in a_list) < n:
        a = rng.normal(size=(4 * n, FEATS)).astype(np.float32)
        b = rng.normal(size=(4 * n, FEATS)).astype(np.float32)
        gap = plan_quality(a) - plan_quality(b)
        keep = (np.abs(gap) >= min_gap) & (np.abs(gap) < max_gap)
        a, b, gap = a[keep], b[keep], gap[keep]
        p_a = 1 / (1 + np.exp(-3.0 * gap))
        v = rng.binomial(5, p_a)  # judges preferring A
        a_list.append(a); b_list.append(b); votes.append(v)
    a = np.concatenate(a_list)[:n]; b = np.concatenate(b_list)[:n]; v = np.concatenate(votes)[:n]
    a_wins = v >= 3
    chosen = np.where(a_wins[:, None], a, b)
    rejected = np.where(a_wins[:, None], b, a)
    agree = np.maximum(v, 5 - v)  # 3, 4 or 5
    margin = (agree - 3) * 0.5
    return chosen, rejected, margin.astype(np.float32)


easy = make_pairs(6000, 0.8, 9.0)
close = make_pairs(6000, 0.0, 0.4)
stage2 = tuple(np.concatenate([e, c]) for e, c in zip(easy, close))
held_c, held_r, _ = make_pairs(1500, 0.0, 9.0)


class PlanScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(FEATS, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.score = nn.Linear(48, 1, bias=False)

    def __call__(self, x):
        return self.score(self.body(x)).squeeze(-1)


def pair_loss(model, xc, xr, m):
    diff = model(xc) - model(xr)
    return -nn.log_sigmoid(diff - m).mean(), (diff > 0).astype(mx.float32).mean()


model = PlanScorer()
mx.eval(model.parameters())
WARM, TOTAL, SWITCH, BATCH = 40, 600, 300, 64
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, end=1e-5)], [WARM]
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-3)
step_fn = nn.value_and_grad(model, pair_loss)

# heuristic the nursery used before: score = linear part of the quality only
def heuristic_acc(c, r):
    return float(((c @ W_TRUE) > (r @ W_TRUE)).mean())

HC, HR = mx.array(held_c), mx.array(held_r)
held_heur = heuristic_acc(held_c, held_r)

t0 = time.time()
win_loss, win_acc = [], []
data = easy
for step in range(1, TOTAL + 1):
    if step == SWITCH + 1:
        data = stage2
        print(json.dumps({"event": "stage", "stage": 2, "pairs": int(len(data[0])), "note": "close calls added"}))
    idx = rng.integers(0, len(data[0]), size=BATCH)
    xc, xr, m = (mx.array(d[idx]) for d in data)
    lr_now = float(opt.learning_rate.item())
    (loss, acc), grads = step_fn(model, xc, xr, m)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc)
    win_loss.append(loss.item()); win_acc.append(acc.item())
    if step == 1 or step % 50 == 0:
        held = (model(HC) > model(HR)).astype(mx.float32).mean().item()
        rec = {
            "step": step, "stage": 1 if step <= SWITCH else 2, "lr": round(lr_now, 6),
            "bt_loss": round(float(np.mean(win_loss)), 4), "batch_agree": round(float(np.mean(win_acc)), 3),
            "held_agree": round(held, 4), "heuristic_held_agree": round(held_heur, 4),
        }
        print(json.dumps(rec))
        win_loss, win_acc = [], []

held = (model(HC) > model(HR)).astype(mx.float32).mean().item()
print(json.dumps({"event": "done", "held_agree": round(held, 4), "heuristic": round(held_heur, 4),
                  "seconds": round(time.time() - t0, 1)}))
