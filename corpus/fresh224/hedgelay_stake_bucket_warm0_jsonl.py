"""Hedge-laying competition: will a laid section pass the judge's walk?

Each section is a variable-length run of stakes (4..20). Per stake we log
pleacher angle (deg), stem diameter (cm) and gap to the next pleacher (cm).
Sections are bucketed by length, padded, and pooled with a mask.
Curriculum: short sections first, then the whole field (harder, longer runs).
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)

N_TRAIN, N_VAL = 1400, 400
MAX_STAKES = 20


def make_sections(n):
    lengths = rng.integers(4, MAX_STAKES + 1, size=n)
    feats = np.zeros((n, MAX_STAKES, 3), dtype=np.float32)
    labels = np.zeros(n, dtype=np.float32)
    for i, L in enumerate(lengths):
        angle = rng.normal(35, 9, size=L)            # degrees
        stem = rng.gamma(4.0, 1.2, size=L)           # cm
        gap = rng.normal(30, 10, size=L).clip(2)     # cm
        # made-up judging law: good angle, enough stem, no big gaps; long runs
        # are judged on their worst third, which makes them harder
        per = -((angle - 32) / 10) ** 2 + 0.6 * np.log(stem) - ((gap - 25) / 12) ** 2
        worst = np.sort(per)[: max(1, L // 3)].mean()
        score = 0.5 * per.mean() + 0.5 * worst + 1.78
        p = 1 / (1 + math.exp(-3.0 * score))
        labels[i] = float(rng.random() < p)
        feats[i, :L, 0] = (angle - 35) / 9
        feats[i, :L, 1] = (stem - 4.8) / 2.4
        feats[i, :L, 2] = (gap - 30) / 10
    return feats, lengths, labels


Xtr, Ltr, Ytr = make_sections(N_TRAIN)
Xva, Lva, Yva = make_sections(N_VAL)


def bucket_batches(lengths, batch_size, max_len=None, shuffle=True):
    idx = np.arange(len(lengths))
    if max_len is not None:
        idx = idx[lengths[idx] <= max_len]
    idx = idx[np.argsort(lengths[idx], kind="stable")]
    batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]
    if shuffle:
        order = rng.permutation(len(batches))
        batches = [batches[j] for j in order]
    return batches


def collate(X, L, Y, ids):
    T = int(L[ids].max())
    x = mx.array(X[ids, :T])
    mask = mx.array((np.arange(T)[None, :] < L[ids][:, None]).astype(np.float32))
    return x, mask, mx.array(Y[ids])


class StakeJudge(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.stake = nn.Sequential(nn.Linear(3, d), nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.score = nn.Linear(d, 1)   # per-stake "weakness" attention score
        self.head = nn.Linear(2 * d, 1)

    def __call__(self, x, mask):
        h = self.stake(x)                                   # B,T,d
        m = mask[..., None]
        mean = (h * m).sum(axis=1) / m.sum(axis=1)
        s = self.score(h).squeeze(-1)
        s = mx.where(mask > 0, s, mx.array(-1e9, dtype=s.dtype))
        w = mx.softmax(s, axis=1)[..., None]
        att = (h * w).sum(axis=1)
        return self.head(mx.concatenate([mean, att], axis=-1)).squeeze(-1)


def loss_fn(model, x, mask, y):
    return nn.losses.binary_cross_entropy(model(x, mask), y, reduction="mean")


model = StakeJudge()
mx.eval(model.parameters())

STAGES = [("short_runs", 10, 7), ("full_field", None, 13)]
steps_per_epoch_est = 48
total_steps = sum(e for _, _, e in STAGES) * steps_per_epoch_est
warm = optim.linear_schedule(0.0, 3e-3, 60)
decay = optim.cosine_decay(3e-3, total_steps, end=2e-4)
sched = optim.join_schedules([warm, decay], [60])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
lvg = nn.value_and_grad(model, loss_fn)

# one-off audit that every tensor receives gradient
xb, mb, yb = collate(Xtr, Ltr, Ytr, np.arange(32))
_, g0 = lvg(model, xb, mb, yb)
flat = nn.utils.tree_flatten(g0)
nonzero = sum(int(mx.abs(v).sum().item() > 0) for _, v in flat)
print(json.dumps({"event": "grad_audit", "tensors": len(flat), "nonzero": nonzero,
                  "lr_at_step0": float(sched(mx.array(0)))}))


def evaluate(X, L, Y):
    correct, total, bce = 0.0, 0, 0.0
    for ids in bucket_batches(L, 100, shuffle=False):
        x, m, y = collate(X, L, Y, ids)
        logits = model(x, m)
        bce += nn.losses.binary_cross_entropy(logits, y, reduction="sum").item()
        correct += ((logits > 0) == (y > 0.5)).sum().item()
        total += len(ids)
    return bce / total, 100.0 * correct / total


majority = float(100.0 * max(Yva.mean(), 1 - Yva.mean()))
t0 = time.time()
step = 0
for stage, max_len, epochs in STAGES:
    for ep in range(1, epochs + 1):
        run, nb = 0.0, 0
        for ids in bucket_batches(Ltr, 32, max_len=max_len):
            x, m, y = collate(Xtr, Ltr, Ytr, ids)
            loss, grads = lvg(model, x, m, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            nb += 1
            step += 1
        vbce, vacc = evaluate(Xva, Lva, Yva)
        print(json.dumps({"stage": stage, "epoch": ep, "step": step,
                          "lr": round(float(opt.learning_rate), 6),
                          "train_bce": round(run / nb, 4), "val_bce": round(vbce, 4),
                          "val_acc_pct": round(vacc, 2),
                          "majority_baseline_pct": round(majority, 2)}))

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1), "steps": step}))
