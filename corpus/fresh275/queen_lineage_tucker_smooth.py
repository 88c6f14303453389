"""Bee-breeder's queen register as a knowledge graph, completed with TuckER.

240 queens in 12 apiaries; lineage from a breeding book (each queen after the founders has a
mother in the same apiary line).  Relations: daughter_of, mother_of, sister_of, same_apiary,
grand_daughter_of.  TuckER (core tensor) scores (queen, relation) against every queen,
1-to-all binary cross-entropy with label smoothing, dropout, Adam + exponential decay.
The smoothed labels put a floor under the loss; logging is sparse (epochs 1, 2, 4, 8, ...),
and training stops on a validation-MRR patience rule, restoring the best weights.
"""
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)
rng = np.random.default_rng(11)

N_API, PER = 12, 20
N = N_API * PER
REL = ["daughter_of", "mother_of", "sister_of", "same_apiary", "grand_daughter_of"]
NR = len(REL)

apiary = np.repeat(np.arange(N_API), PER)
mother = -np.ones(N, dtype=np.int64)
for a in range(N_API):
    ids = np.arange(a * PER, (a + 1) * PER)
    for k in range(3, PER):                       # 3 founders per apiary
        mother[ids[k]] = ids[rng.integers(0, k)]

facts = set()
for q in range(N):
    m = mother[q]
    if m >= 0:
        facts.add((q, 0, m)); facts.add((m, 1, q))
        if mother[m] >= 0:
            facts.add((q, 4, mother[m]))
    for o in range(N):
        if o != q and apiary[o] == apiary[q] and rng.random() < 0.35:
            facts.add((q, 3, o)); facts.add((o, 3, q))
        if o != q and m >= 0 and mother[o] == m:
            facts.add((q, 2, o))
facts = np.array(sorted(facts), dtype=np.int64)
rng.shuffle(facts)
n_hold = len(facts) // 10
test, valid, train = facts[:n_hold], facts[n_hold:2 * n_hold], facts[2 * n_hold:]
print(f"queens={N} relations={NR} facts train={len(train)} valid={len(valid)} test={len(test)}")

all_true = {}
for h, r, t in facts:
    all_true.setdefault((int(h), int(r)), set()).add(int(t))

# 1-to-all training rows: one row per (queen, relation) with a multi-hot over queens
train_rows = {}
for h, r, t in train:
    train_rows.setdefault((int(h), int(r)), []).append(int(t))
keys = np.array(list(train_rows.keys()), dtype=np.int64)
targets = np.zeros((len(keys), N), dtype=np.float32)
for i, k in enumerate(train_rows.values()):
    targets[i, k] = 1.0
EPS = 0.1
smooth = (1.0 - EPS) * targets + 1.0 / N

# the best reachable BCE with smoothed labels is their mean binary entropy
p = np.clip(smooth, 1e-7, 1 - 1e-7)
floor = float(np.mean(-(p * np.log(p) + (1 - p) * np.log(1 - p))))
print(f"{len(keys)} (queen, relation) rows; label-smoothing floor of the loss = {floor:.4f}")


class TuckER(nn.Module):
    def __init__(self, n_ent, n_rel, de, dr):
        super().__init__()
        self.de, self.dr = de, dr
        self.E = nn.Embedding(n_ent, de)
        self.R = nn.Embedding(n_rel, dr)
        self.E.weight = self.E.weight * 0.1
        self.R.weight = self.R.weight * 0.1
        self.W = mx.random.uniform(-1.0, 1.0, (dr, de * de))
        self.drop_in = nn.Dropout(0.2)
        self.drop_hid = nn.Dropout(0.3)
        self.ln = nn.LayerNorm(de)

    def __call__(self, h, r):
        e = self.drop_in(self.ln(self.E(h)))
        Wr = (self.R(r) @ self.W).reshape(-1, self.de, self.de)
        x = mx.squeeze(mx.expand_dims(e, 1) @ Wr, 1)
        x = self.drop_hid(x)
        return x @ self.E.weight.T


def loss_fn(model, h, r, y):
    logits = model(h, r)
    return mx.mean(nn.losses.binary_cross_entropy(logits, y, with_logits=True))


def mrr(model, rows):
    model.eval()
    logits = np.array(model(mx.array(rows[:, 0]), mx.array(rows[:, 1])))
    model.train()
    rr = []
    for k, (h, r, t) in enumerate(rows):
        s = logits[k].copy()
        tgt = s[t]
        for o in all_true[(int(h), int(r))]:
            if o != t:
                s[o] = -np.inf
        rr.append(1.0 / (1 + np.sum(s > tgt)))
    return float(np.mean(rr))


# "same apiary, random queen" baseline: rank queens of the head's apiary first, at random
def apiary_baseline(rows):
    rr = []
    for h, r, t in rows:
        same = apiary == apiary[h]
        cands = np.where(same)[0] if same[t] else np.where(~same)[0]
        cands = [c for c in cands if c == t or c not in all_true[(int(h), int(r))]]
        pos = rng.integers(0, len(cands))
        offset = 0 if same[t] else int(np.sum(same))
        rr.append(1.0 / (1 + offset + pos))
    return float(np.mean(rr))


model = TuckER(N, NR, 40, 16)
mx.eval(model.parameters())
print(f"parameters: {sum(v.size for _, v in tree_flatten(model.parameters()))}")
BATCH, EPOCHS, STEPS_PER_EPOCH = 64, 120, math.ceil(len(keys) / 64)
sched = optim.exponential_decay(5e-3, 0.9985)
opt = optim.Adam(learning_rate=sched)
step_fn = nn.value_and_grad(model, loss_fn)
print(f"baseline valid MRR (same-apiary guess) = {apiary_baseline(valid):.3f}, "
      f"random = {np.mean(1.0 / np.arange(1, N + 1)):.3f}")

best, best_ep, best_w, patience = -1.0, 0, None, 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(keys))
    tot = 0.0
    for b in range(0, len(keys), BATCH):
        idx = perm[b: b + BATCH]
        loss, g = step_fn(model, mx.array(keys[idx, 0]), mx.array(keys[idx, 1]), mx.array(smooth[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        tot += loss.item() * len(idx)
    tot /= len(keys)
    if ep % 3 == 0:
        v = mrr(model, valid)
        if v > best + 1e-4:
            best, best_ep, patience = v, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            patience += 1
    if ep & (ep - 1) == 0:  # epochs 1, 2, 4, 8, 16, ...
        print(f"epoch {ep:3d} lr {opt.learning_rate.item():.2e} loss {tot:.4f} "
              f"(above floor {tot - floor:.4f}) best valid MRR "
              + (f"{best:.3f}" if best >= 0 else "n/a (first check at epoch 3)"))
    if patience >= 6:
        print(f"epoch {ep:3d} loss {tot:.4f}: no valid gain for {patience} checks; "
              f"stopping, best at epoch {best_ep}")
        break

model.update(best_w)
mx.eval(model.parameters())
print(f"restored epoch {best_ep}: valid MRR {mrr(model, valid):.3f} test MRR {mrr(model, test):.3f} "
      f"| same-apiary baseline test {apiary_baseline(test):.3f}")
