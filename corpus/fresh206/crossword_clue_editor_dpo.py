"""Crossword desk: which of 6 clue phrasings should the puzzle editor publish?

Stage "sft": imitate the editor's historical picks (noisy) with cross entropy.
Stage "dpo": Direct Preference Optimisation on solver-panel pairwise verdicts,
             reference policy = frozen copy of the SFT policy.
Every line is one JSON object.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(206)
N_FEAT, N_CLUE = 7, 6

# hidden "solver delight" utility of each phrasing given the grid context
W_true = mx.random.normal((N_FEAT, N_CLUE)) * 0.9
b_true = mx.array([0.3, -0.2, 0.0, 0.4, -0.5, 0.1])


def utility(x):
    return x @ W_true + b_true + 0.6 * mx.sin(2.0 * x[:, :N_CLUE])


def make_contexts(n):
    return mx.random.normal((n, N_FEAT))


# editor history: picks the best phrasing only 45% of the time, else uniform
X_sft = make_contexts(3000)
best = mx.argmax(utility(X_sft), axis=1)
coin = mx.random.uniform(shape=(3000,)) < 0.45
y_sft = mx.where(coin, best, mx.random.randint(0, N_CLUE, (3000,)))

# panel verdicts: pairs (a, b), chosen by Bradley-Terry on utility difference
X_pref = make_contexts(4000)
a = mx.random.randint(0, N_CLUE, (4000,))
b = (a + mx.random.randint(1, N_CLUE, (4000,))) % N_CLUE
U = utility(X_pref)
ua = mx.take_along_axis(U, a[:, None], axis=1)[:, 0]
ub = mx.take_along_axis(U, b[:, None], axis=1)[:, 0]
a_wins = mx.random.uniform(shape=(4000,)) < mx.sigmoid(2.0 * (ua - ub))
chosen = mx.where(a_wins, a, b)
rejected = mx.where(a_wins, b, a)

X_test = make_contexts(1500)
best_test = mx.argmax(utility(X_test), axis=1)


class ClueDesk(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 48)
        self.l2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, N_CLUE)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.head(h)


policy = ClueDesk()
mx.eval(policy.parameters())


def sft_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def picked_logp(logits, idx):
    lp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
    return mx.take_along_axis(lp, idx[:, None], axis=1)[:, 0]


BETA = 0.5


def dpo_loss(model, ref_logits, x, c, r):
    logits = model(x)
    pi_c, pi_r = picked_logp(logits, c), picked_logp(logits, r)
    ref_c, ref_r = picked_logp(ref_logits, c), picked_logp(ref_logits, r)
    margin = BETA * ((pi_c - ref_c) - (pi_r - ref_r))
    loss = mx.mean(nn.softplus(-margin))
    return loss, margin


def evaluate(model, ref=None):
    logits = model(X_test)
    top1 = mx.mean(mx.argmax(logits, axis=1) == best_test).item() * 100.0
    U_t = utility(X_test)
    p = mx.softmax(logits, axis=1)
    regret = mx.mean(mx.max(U_t, axis=1) - mx.sum(p * U_t, axis=1)).item()
    out = {"best_pick_pct": round(top1, 2), "regret": round(regret, 4)}
    if ref is not None:
        lp = logits - mx.logsumexp(logits, axis=1, keepdims=True)
        lq = ref - mx.logsumexp(ref, axis=1, keepdims=True)
        out["kl_to_ref"] = round(mx.mean(mx.sum(mx.exp(lp) * (lp - lq), axis=1)).item(), 4)
    return out


def emit(**kw):
    print(json.dumps(kw), flush=True)


# ---------------- stage 1: SFT ----------------
opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
vg = nn.value_and_grad(policy, sft_loss)
BS = 100
step = 0
emit(stage="sft", step=0, **evaluate(policy), note="uniform-ish start, chance 16.7%")
for epoch in range(6):
    perm = mx.random.permutation(3000)
    for i in range(0, 3000, BS):
        idx = perm[i:i + BS]
        loss, g = vg(policy, X_sft[idx], y_sft[idx])
        opt.update(policy, g)
        mx.eval(policy.parameters(), opt.state, loss)
        step += 1
        if step % 45 == 0:
            emit(stage="sft", step=step, loss=round(loss.item(), 4), **evaluate(policy))

# reference = frozen snapshot of the SFT policy (only its logits are used)
ref_model = ClueDesk()
ref_model.update(tree_map(lambda p: mx.array(p), policy.parameters()))
ref_model.freeze()
mx.eval(ref_model.parameters())
ref_test = ref_model(X_test)
ref_pref = ref_model(X_pref)
mx.eval(ref_test, ref_pref)
sft_summary = evaluate(policy)

# ---------------- stage 2: DPO (step counter restarts, lr warms up from 0) ----------------
TOTAL, WARM = 320, 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 2e-4)],
    [WARM])
opt2 = optim.Adam(learning_rate=sched)
vg2 = nn.value_and_grad(policy, dpo_loss)

# gradient audit before training: every trained tensor must receive signal
(l0, _), g0 = vg2(policy, ref_pref[:200], X_pref[:200], chosen[:200], rejected[:200])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
emit(stage="audit", dpo_loss_at_start=round(l0.item(), 4), log2=round(math.log(2), 4),
     zero_grad_tensors=len(zero), n_tensors=len(tree_flatten(g0)))

step = 0
BS2 = 128
emit(stage="dpo", step=0, lr=0.0, **evaluate(policy, ref_test), sft_reference=sft_summary)
while step < TOTAL:
    perm = mx.random.permutation(4000)
    for i in range(0, 4000 - BS2 + 1, BS2):
        if step >= TOTAL:
            break
        idx = perm[i:i + BS2]
        (loss, margin), g = vg2(policy, ref_pref[idx], X_pref[idx], chosen[idx], rejected[idx])
        lr_now = opt2.learning_rate.item()
        opt2.update(policy, g)
        mx.eval(policy.parameters(), opt2.state, loss, margin)
        step += 1
        if step % 40 == 0:
            emit(stage="dpo", step=step, lr=round(lr_now, 6), loss=round(loss.item(), 4),
                 pref_acc_pct=round(mx.mean(margin > 0).item() * 100, 1),
                 margin=round(mx.mean(margin).item(), 4), **evaluate(policy, ref_test))

final = evaluate(policy, ref_test)
emit(stage="summary", sft=sft_summary, dpo=final,
     regret_change=round(final["regret"] - sft_summary["regret"], 4))
