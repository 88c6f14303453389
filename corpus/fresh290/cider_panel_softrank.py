"""Cider tasting panel: learn a scorer whose ORDER of the batches in a
session matches the panel's ranking.

Listwise objective on differentiable ranks: soft rank of item i is
1 + sum_j sigmoid((s_j - s_i) / tau); the loss is the NEGATIVE soft Spearman
correlation between soft ranks and panel ranks (so it heads towards -1).
tau is sharpened in three stages, so the objective is not one quantity over
the run (stage 3 starts a little above where stage 2 ended).  The learning
rate warms up from exactly 0.  After stage 2 the run is written to disk and
resumed from the files.
"""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
N_FEAT, ITEMS = 7, 10


def make_sessions(n):
    x = rng.normal(size=(n, ITEMS, N_FEAT)).astype(np.float32)
    # made-up panel taste: sweetness/acidity balance, tannin bump, cloudiness penalty
    taste = (1.2 * x[..., 0] - 0.8 * (x[..., 1] - 0.4 * x[..., 0]) ** 2
             + np.tanh(2 * x[..., 2]) - 0.5 * np.abs(x[..., 3]) + 0.3 * x[..., 4] * x[..., 5])
    taste += rng.normal(scale=0.45, size=taste.shape)  # panel disagreement
    ranks = taste.argsort(-1).argsort(-1).astype(np.float32) + 1.0
    return x, ranks


xtr, rtr = make_sessions(3000)
xte, rte = make_sessions(600)


def spearman_hard(scores, ranks):
    pr = scores.argsort(-1).argsort(-1) + 1.0
    a = pr - pr.mean(-1, keepdims=True)
    b = ranks - ranks.mean(-1, keepdims=True)
    return float(((a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))).mean())


base_rho = spearman_hard(xte[..., 0], rte)  # rank by sweetness alone


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(N_FEAT, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(),
                                  nn.Linear(48, 1))

    def __call__(self, x):
        return self.body(x).squeeze(-1)


def soft_rank(s, tau):
    diff = (s[..., :, None] - s[..., None, :]) / tau
    return 0.5 + mx.sigmoid(diff).sum(-1)


def neg_soft_spearman(model, x, ranks, tau):
    r = soft_rank(model(x), tau)
    a = r - r.mean(-1, keepdims=True)
    b = ranks - ranks.mean(-1, keepdims=True)
    rho = (a * b).sum(-1) / mx.sqrt((a * a).sum(-1) * (b * b).sum(-1) + 1e-8)
    return -rho.mean()


STAGES = [(1.0, 6), (0.3, 6), (0.1, 6)]  # (tau, epochs)
BATCH = 50
STEPS_PER_EPOCH = len(xtr) // BATCH
TOTAL = STEPS_PER_EPOCH * sum(e for _, e in STAGES)
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 60), optim.cosine_decay(3e-3, TOTAL - 60, end=2e-4)], [60])


def build():
    mx.random.seed(5)
    m = Scorer()
    o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o


model, opt = build()
ckdir = tempfile.mkdtemp(None, "cider_")
xte_mx, rte_mx = mx.array(xte), mx.array(rte)

print(f"sessions train={len(xtr)} test={len(xte)} items/session={ITEMS}")
print(f"baseline: rank by sweetness only, test spearman = {base_rho:.3f}")

step = 0
for si, (tau, epochs) in enumerate(STAGES, start=1):
    if si == 3:
        # resume from disk: fresh objects, weights + optimizer state loaded back
        model, opt = build()
        model.load_weights(os.path.join(ckdir, "scorer.safetensors"))
        saved = dict(mx.load(os.path.join(ckdir, "opt.safetensors")))
        opt.state = tree_unflatten(list(saved.items()))
        step = int(opt.state["step"].item())
        print(f"  resumed from {ckdir} at update {step}")
    lag = nn.value_and_grad(model, neg_soft_spearman)
    tau_arr = mx.array(tau)
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(xtr))
        tot = 0.0
        for b in range(STEPS_PER_EPOCH):
            idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
            loss, g = lag(model, mx.array(xtr)[idx], mx.array(rtr)[idx], tau_arr)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            step += 1
        test_loss = neg_soft_spearman(model, xte_mx, rte_mx, tau_arr).item()
        rho = spearman_hard(np.array(model(xte_mx)), rte)
        print(f"stage {si} tau {tau:<4} epoch {ep}: train_obj {tot / STEPS_PER_EPOCH:+.4f} "
              f"test_obj {test_loss:+.4f}  test spearman {rho:.3f} (sweetness {base_rho:.3f})"
              f"  lr {float(sched(step)):.2e}")
    if si == 2:
        model.save_weights(os.path.join(ckdir, "scorer.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"  checkpoint written after update {step}")

final = spearman_hard(np.array(model(xte_mx)), rte)
print(f"final test spearman {final:.3f}; sweetness-only {base_rho:.3f}; updates {step}")
