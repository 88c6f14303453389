"""Library shelf-mark assignment: 12 subject classes from 10 catalogue features.

A wide teacher is fitted first, then frozen. Only its top-4 tempered
probabilities per record (plus the leftover "other" mass) are written to a
cache file; the teacher object is then deleted, and a small student is fitted
from the cache alone (offline distillation with an 'other bucket').
"""
import dataclasses
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT, N_CLS, TOPK, TEMP = 10, 12, 4, 2.0
rng = np.random.default_rng(295)
mx.random.seed(295)

# ---------------- synthetic catalogue records ----------------
W1 = rng.normal(0, 1.0, (N_FEAT, 24))
W2 = rng.normal(0, 1.0, (24, N_CLS))


def make(n):
    x = rng.normal(0, 1, (n, N_FEAT)).astype(np.float32)
    score = np.tanh(x @ W1) @ W2 * 1.6
    g = rng.gumbel(size=score.shape)
    y = np.argmax(score + g, axis=1).astype(np.int32)
    return x, y


x_tr, y_tr = make(6000)
x_va, y_va = make(1500)
Xtr, Ytr, Xva, Yva = map(mx.array, (x_tr, y_tr, x_va, y_va))
prior = np.bincount(y_tr, minlength=N_CLS) / len(y_tr)
prior_ce = float(-np.mean(np.log(prior[y_va])))
majority_acc = float(np.mean(y_va == np.argmax(prior)))


@dataclasses.dataclass
class Record:
    model: str
    epoch: int
    lr: float
    objective: float
    valid_ce: float
    gain_nats: float
    valid_acc_pct: float
    secs: float


def show(rec):
    print(repr(dataclasses.asdict(rec)), flush=True)


def evaluate(model):
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Yva)
    mx.eval(ce, acc)
    return ce.item(), 100.0 * acc.item()


# ---------------- stage 1: teacher (silent while it trains) ----------------
teacher = nn.Sequential(
    nn.Linear(N_FEAT, 128), nn.GELU(), nn.Linear(128, 128), nn.GELU(),
    nn.Linear(128, N_CLS))
t_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def t_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


t_step = nn.value_and_grad(teacher, t_loss)
t0 = time.time()
for ep in range(1, 9):
    perm = mx.array(rng.permutation(len(y_tr)))
    for i in range(0, len(y_tr), 64):
        idx = perm[i:i + 64]
        loss, g = t_step(teacher, Xtr[idx], Ytr[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state, loss)
t_ce, t_acc = evaluate(teacher)
show(Record("teacher", 8, 2e-3, loss.item(), t_ce, prior_ce - t_ce, t_acc,
            time.time() - t0))
teacher.eval()
teacher.freeze()

# ---------------- cache the teacher's top-k tempered probabilities ----------------
cache_dir = tempfile.mkdtemp()
cache_path = os.path.join(cache_dir, "teacher_top4.npz")
probs = mx.softmax(teacher(Xtr) / TEMP, axis=-1)
top_idx = mx.argpartition(-probs, kth=TOPK - 1, axis=-1)[:, :TOPK]
top_p = mx.take_along_axis(probs, top_idx, axis=-1)
rest = mx.maximum(1.0 - top_p.sum(axis=-1), 1e-6)
mx.eval(top_idx, top_p, rest)
np.savez(cache_path, idx=np.array(top_idx), p=np.array(top_p), rest=np.array(rest))
teacher_va_pred = np.array(mx.argmax(teacher(Xva), axis=1))
del teacher, t_opt, t_step, probs

cache = np.load(cache_path)
C_idx = mx.array(cache["idx"].astype(np.int32))
C_p = mx.array(cache["p"])
C_rest = mx.array(cache["rest"])
q_full = mx.concatenate([C_p, C_rest[:, None]], axis=1)
target_entropy = float(mx.mean(-(q_full * mx.log(q_full)).sum(axis=1)).item())
print(repr({"cache": os.path.basename(cache_path), "records": int(C_idx.shape[0]),
            "k": TOPK, "T": TEMP,
            "mean_other_mass": round(float(C_rest.mean().item()), 4),
            "kd_floor_nats": round(target_entropy, 4),
            "prior_ce": round(prior_ce, 4),
            "majority_acc_pct": round(100 * majority_acc, 2)}), flush=True)

# ---------------- stage 2: student from the cache only ----------------
student = nn.Sequential(nn.Linear(N_FEAT, 16), nn.ReLU(), nn.Linear(16, N_CLS))
EPOCHS, BS = 24, 64
steps_per_epoch = (len(y_tr) + BS - 1) // BS
warm = 50
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, EPOCHS * steps_per_epoch - warm, 1e-5)],
    [warm])
s_opt = optim.Adam(learning_rate=sched)


def kd_loss(m, x, y, idx, p, rest):
    logits = m(x)
    logp = nn.log_softmax(logits / TEMP, axis=-1)
    logp_top = mx.take_along_axis(logp, idx, axis=-1)
    p_rest = mx.maximum(1.0 - mx.exp(logp_top).sum(axis=-1), 1e-6)
    # soft cross-entropy over the k cached classes plus the other bucket
    soft = -(p * logp_top).sum(axis=-1) - rest * mx.log(p_rest)
    hard = nn.losses.cross_entropy(logits, y, reduction="mean")
    return 0.8 * mx.mean(soft) + 0.2 * hard


s_step = nn.value_and_grad(student, kd_loss)
before = [np.array(v) for _, v in tree_flatten(student.parameters())]
ce0, acc0 = evaluate(student)
show(Record("student", 0, 0.0, float("nan"), ce0, prior_ce - ce0, acc0, 0.0))
t0 = time.time()
step = 0
history = []
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(y_tr)))
    lr_start = float(sched(mx.array(step)).item())
    tot, n = 0.0, 0
    for i in range(0, len(y_tr), BS):
        idx = perm[i:i + BS]
        loss, g = s_step(student, Xtr[idx], Ytr[idx], C_idx[idx], C_p[idx], C_rest[idx])
        if step == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
        s_opt.update(student, g)
        mx.eval(student.parameters(), s_opt.state, loss)
        if step == 0:
            after = [np.array(v) for _, v in tree_flatten(student.parameters())]
            moved = max(float(np.abs(a - b).max()) for a, b in zip(after, before))
            print(repr({"grad_leaves": len(leaves), "all_zero_leaves": zero,
                        "first_step_lr": float(sched(mx.array(0)).item()),
                        "first_step_max_change": moved}), flush=True)
        tot += loss.item()
        n += 1
        step += 1
    if ep in (1, 2, 3, 6, 12, 18, 24):
        ce, acc = evaluate(student)
        show(Record("student", ep, lr_start, tot / n, ce, prior_ce - ce, acc,
                    time.time() - t0))
        history.append((ep, acc))

# ---------------- summary ----------------
s_pred = np.array(mx.argmax(student(Xva), axis=1))
agree = 100.0 * float(np.mean(s_pred == teacher_va_pred))
print(repr({"done": True, "student_params": sum(v.size for _, v in tree_flatten(student.parameters())),
            "teacher_acc_pct": round(t_acc, 2), "student_acc_pct": round(history[-1][1], 2),
            "agreement_with_teacher_pct": round(agree, 2)}), flush=True)
print("per-class recall of the student (valid):")
for c in range(N_CLS):
    m = y_va == c
    r = float(np.mean(s_pred[m] == c)) if m.any() else 0.0
    print(f"  class {c:2d} |{'#' * int(round(r * 40)):<40}| {100 * r:5.1f}%  (n={int(m.sum())})")
