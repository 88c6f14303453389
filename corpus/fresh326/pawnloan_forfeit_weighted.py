"""Pawnshop ledger: will a pledge be forfeited (loan not redeemed)?

Tabular binary classifier on synthetic ledger rows:
  numeric  : loan amount, appraisal ratio, term days, prior loans, customer age
             (appraisal ratio and customer age have gaps -> median fill + missing flags)
  category : item type, branch, appraiser  -> one nn.Embedding per column
Forfeits are rare (~8%), so the BCE is class-weighted. Plain accuracy is
reported next to the always-"redeemed" baseline together with balanced
accuracy and ROC AUC.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
N_TRAIN, N_VALID = 24000, 4000
CARDS = {"item": 9, "branch": 14, "appraiser": 30}
EMB_DIMS = {"item": 4, "branch": 4, "appraiser": 6}
EPOCHS = 10
BATCH = 128

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_ledger(n):
    item = rng.integers(0, CARDS["item"], n)
    branch = rng.integers(0, CARDS["branch"], n)
    appraiser = rng.integers(0, CARDS["appraiser"], n)
    amount = np.exp(rng.normal(5.3, 0.8, n))            # GBP, long tail
    ratio = np.clip(rng.normal(0.62, 0.15, n), 0.1, 1.4)  # loan / appraisal
    term = rng.choice([30, 60, 90, 180], n).astype(np.float64)
    prior = rng.poisson(1.6, n).astype(np.float64)
    age = np.clip(rng.normal(41, 13, n), 18, 85)

    item_eff = np.linspace(-0.9, 1.1, CARDS["item"])[item]
    branch_eff = np.sin(np.arange(CARDS["branch"]) * 1.7)[branch] * 0.5
    appr_eff = np.cos(np.arange(CARDS["appraiser"]) * 0.9)[appraiser] * 0.6
    z = (-2.7 + 3.0 * (ratio - 0.62) + 0.45 * np.log(amount / 200.0)
         - 0.35 * np.log1p(prior) + 0.004 * (term - 90) - 0.012 * (age - 41)
         + item_eff + branch_eff + appr_eff)
    p_true = 1.0 / (1.0 + np.exp(-z))
    y = (rng.random(n) < p_true).astype(np.float32)

    # ledger gaps: appraisal ratio missing more often on forfeited pledges
    miss_ratio = rng.random(n) < np.where(y > 0, 0.25, 0.12)
    miss_age = rng.random(n) < 0.18
    ratio = np.where(miss_ratio, np.nan, ratio)
    age = np.where(miss_age, np.nan, age)
    num = np.stack([np.log(amount), ratio, term, prior, age], axis=1)
    cat = np.stack([item, branch, appraiser], axis=1).astype(np.int32)
    return num, cat, y, p_true


num_tr, cat_tr, y_tr, _ = make_ledger(N_TRAIN)
num_va, cat_va, y_va, p_va = make_ledger(N_VALID)

# --- preprocessing fitted on the training ledger only -----------------------
medians = np.nanmedian(num_tr, axis=0)
gap_cols = [i for i in range(num_tr.shape[1]) if np.isnan(num_tr[:, i]).any()]


def prep(num):
    flags = np.isnan(num[:, gap_cols]).astype(np.float64)
    filled = np.where(np.isnan(num), medians, num)
    return filled, flags


f_tr, g_tr = prep(num_tr)
mu, sd = f_tr.mean(0), f_tr.std(0) + 1e-8
f_va, g_va = prep(num_va)
x_tr = np.concatenate([(f_tr - mu) / sd, g_tr], axis=1).astype(np.float32)
x_va = np.concatenate([(f_va - mu) / sd, g_va], axis=1).astype(np.float32)

pos_rate = float(y_tr.mean())
pos_weight = (1.0 - pos_rate) / pos_rate
print(f"ledger: train {N_TRAIN} rows, valid {N_VALID} rows, forfeit rate "
      f"{100 * pos_rate:.1f}%, gap columns {gap_cols}, missing share "
      f"{100 * np.isnan(num_tr[:, gap_cols]).mean():.1f}%")
print(f"class weight for forfeits: {pos_weight:.2f}")


class PledgeNet(nn.Module):
    def __init__(self, n_num):
        super().__init__()
        self.embeds = [nn.Embedding(CARDS[k], EMB_DIMS[k]) for k in CARDS]
        width = n_num + sum(EMB_DIMS.values())
        self.body = nn.Sequential(
            nn.Linear(width, 64), nn.GELU(), nn.Dropout(0.2),
            nn.Linear(64, 32), nn.GELU(),
        )
        self.head = nn.Linear(32, 1)

    def __call__(self, x_num, x_cat):
        parts = [x_num] + [emb(x_cat[:, j]) for j, emb in enumerate(self.embeds)]
        return self.head(self.body(mx.concatenate(parts, axis=1))).squeeze(-1)


model = PledgeNet(x_tr.shape[1])
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"model: {n_params} trainable parameters")

steps_per_epoch = math.ceil(N_TRAIN / BATCH)
lr_sched = optim.step_decay(2e-3, 0.5, 3 * steps_per_epoch)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-2)


def loss_fn(m, xn, xc, y):
    logits = m(xn, xc)
    w = mx.where(y > 0.5, pos_weight, 1.0)
    return nn.losses.binary_cross_entropy(logits, y, weights=w, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def roc_auc(scores, y):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    npos = y.sum()
    nneg = len(y) - npos
    return (ranks[y > 0.5].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def evaluate(xn, xc, y):
    model.eval()
    logits = model(mx.array(xn), mx.array(xc))
    w = mx.where(mx.array(y) > 0.5, pos_weight, 1.0)
    wbce = nn.losses.binary_cross_entropy(logits, mx.array(y), weights=w,
                                          reduction="mean").item()
    model.train()
    s = np.array(logits)
    pred = (s > 0).astype(np.float32)
    acc = (pred == y).mean()
    tpr = pred[y > 0.5].mean()
    tnr = 1 - pred[y < 0.5].mean()
    return wbce, acc, 0.5 * (tpr + tnr), roc_auc(s, y)


base_acc = 1.0 - y_va.mean()
wbce, acc, bacc, auc = evaluate(x_va, cat_va, y_va)
print(f"baseline 'always redeemed': acc {100 * base_acc:.1f}%  bal_acc 50.0%  auc 0.500")
print(f"reference: auc of the true forfeit probabilities {roc_auc(p_va, y_va):.3f}")
print(f"untrained: wbce {wbce:.4f}  acc {100 * acc:.1f}%  bal_acc {100 * bacc:.1f}%  auc {auc:.3f}")

# first-step gradient check: every leaf must receive gradient
idx0 = mx.array(rng.permutation(N_TRAIN)[:BATCH])
_, g0 = step_fn(model, mx.array(x_tr)[idx0], mx.array(cat_tr)[idx0], mx.array(y_tr)[idx0])
flat = tree_flatten(g0)
zero = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
emb_rows = sum(int((mx.abs(v).sum(axis=1) > 0).sum().item())
               for k, v in flat if k.startswith("embeds"))
print(f"grad check: {len(flat)} leaves, all-zero leaves {zero if zero else 'none'}, "
      f"embedding rows touched in batch 0: {emb_rows}")

X_tr, C_tr, Y_tr = mx.array(x_tr), mx.array(cat_tr), mx.array(y_tr)
t0 = time.time()
print("epoch | lr       | train_wbce | valid_wbce | acc    | bal_acc | auc   | secs")
for epoch in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot, nb = 0.0, 0
    lr_now = float(lr_sched(opt.step))
    for s in range(0, N_TRAIN, BATCH):
        idx = perm[s:s + BATCH]
        loss, grads = step_fn(model, X_tr[idx], C_tr[idx], Y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    wbce, acc, bacc, auc = evaluate(x_va, cat_va, y_va)
    print(f"{epoch:5d} | {lr_now:.2e} | {tot / nb:10.4f} | {wbce:10.4f} | "
          f"{100 * acc:5.1f}% | {100 * bacc:6.1f}% | {auc:.3f} | {time.time() - t0:4.1f}")

print(f"done: valid auc {auc:.3f} vs 0.500 baseline and {roc_auc(p_va, y_va):.3f} reference; accuracy {100 * acc:.1f}% vs "
      f"{100 * base_acc:.1f}% for always 'redeemed' (weighted model flags more forfeits)")
