"""Second-hand bookstall: rank 8 shelf candidates for a browsing customer.

A cross-scorer (customer + book features together) is fitted first and then kept
frozen; a two-tower scorer (customer tower, book tower, dot product) learns from it
with Margin-MSE: for every pair of candidates in a list, match the student's score
gap to the cross-scorer's score gap.  Half-way through, the student is checkpointed
to a temp dir, thrown away, rebuilt with another seed and resumed from disk.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()
rng = np.random.default_rng(340)
DQ, DB, LIST = 8, 8, 8
N_TRAIN, N_TEST = 900, 200

A = rng.normal(size=(DQ, DB)) / math.sqrt(DQ)
u = rng.normal(size=DQ)
v = rng.normal(size=DB)


def make_lists(n):
    q = rng.normal(size=(n, DQ)).astype(np.float32)
    b = rng.normal(size=(n, LIST, DB)).astype(np.float32)
    inter = np.einsum("nq,qb,nlb->nl", q, A, b)
    season = np.sin(q @ u)[:, None] * np.tanh(b @ v)
    score = inter + 0.8 * season + 0.25 * rng.normal(size=(n, LIST))
    grade = np.zeros((n, LIST), dtype=np.float32)
    order = np.argsort(-score, axis=1)
    for g, lo, hi in ((3, 0, 1), (2, 1, 3), (1, 3, 5)):
        np.put_along_axis(grade, order[:, lo:hi], g, axis=1)
    return q, b, grade


qtr, btr, gtr = make_lists(N_TRAIN)
qte, bte, gte = make_lists(N_TEST)


def log(sev, msgid, **kv):
    pri = 8 + sev
    stamp = f"{time.time() - T0:7.2f}s"
    sd = " ".join(f'{k}="{v}"' for k, v in kv.items())
    print(f"<{pri}>1 {stamp} bookstall rankd - {msgid} [run@340 {sd}]", flush=True)


def ndcg_at(scores, grades, k=5):
    order = np.argsort(-scores, axis=1)[:, :k]
    g = np.take_along_axis(grades, order, axis=1)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = ((2.0 ** g - 1) * disc).sum(1)
    ideal = np.sort(grades, axis=1)[:, ::-1][:, :k]
    idcg = ((2.0 ** ideal - 1) * disc).sum(1)
    return float(np.mean(dcg / np.maximum(idcg, 1e-9)))


class CrossScorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(DQ + DB + DQ * DB // 8, 96), nn.GELU(),
            nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 1))

    def __call__(self, q, b):
        qe = mx.broadcast_to(q[:, None, :], b.shape[:2] + (DQ,))
        outer = (qe[..., :, None] * b[..., None, :]).reshape(b.shape[0], b.shape[1], -1)
        pooled = outer.reshape(b.shape[0], b.shape[1], DQ * DB // 8, 8).mean(-1)
        return self.net(mx.concatenate([qe, b, pooled], axis=-1)).squeeze(-1)


class TwoTower(nn.Module):
    def __init__(self, dim=24):
        super().__init__()
        self.cust = nn.Sequential(nn.Linear(DQ, 64), nn.SiLU(), nn.Linear(64, dim))
        self.book = nn.Sequential(nn.Linear(DB, 64), nn.SiLU(), nn.Linear(64, dim))

    def __call__(self, q, b):
        return (self.cust(q)[:, None, :] * self.book(b)).sum(-1)


def pair_masks(grades):
    gi = grades[:, :, None]
    gj = grades[:, None, :]
    return (gi > gj).astype(mx.float32)


def ranknet_loss(model, q, b, g):
    s = model(q, b)
    diff = s[:, :, None] - s[:, None, :]
    m = pair_masks(g)
    return (nn.losses.binary_cross_entropy(diff, mx.ones_like(diff), reduction="none") * m).sum() / m.sum()


def margin_mse(student, q, b, teacher_scores):
    s = student(q, b)
    ds = s[:, :, None] - s[:, None, :]
    dt = teacher_scores[:, :, None] - teacher_scores[:, None, :]
    return nn.losses.mse_loss(ds, dt, reduction="mean") * (LIST / (LIST - 1))


Qtr, Btr, Gtr = mx.array(qtr), mx.array(btr), mx.array(gtr)
Qte, Bte = mx.array(qte), mx.array(bte)

# ---------------- stage A: cross-scorer, quietly -----------------
mx.random.seed(11)
teacher = CrossScorer()
t_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
t_step = nn.value_and_grad(teacher, ranknet_loss)
for ep in range(14):
    perm = rng.permutation(N_TRAIN)
    for i in range(0, N_TRAIN, 64):
        idx = mx.array(perm[i:i + 64])
        loss, grads = t_step(teacher, Qtr[idx], Btr[idx], Gtr[idx])
        t_opt.update(teacher, grads)
        mx.eval(teacher.parameters(), t_opt.state, loss)
teacher.freeze()
teacher.eval()
t_before = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}
T_tr = teacher(Qtr, Btr)
T_te = np.array(teacher(Qte, Bte))
mx.eval(T_tr)

ndcg_teacher = ndcg_at(T_te, gte)
ndcg_random = ndcg_at(rng.normal(size=gte.shape), gte)
ndcg_raw = ndcg_at(np.einsum("nq,nlq->nl", qte, bte), gte)
log(6, "teacher", ranknet_final=f"{loss.item():.4f}", ndcg5_test=f"{ndcg_teacher:.4f}",
    ndcg5_random=f"{ndcg_random:.4f}", ndcg5_rawdot=f"{ndcg_raw:.4f}", frozen="yes")

# ---------------- stage B: two-tower student -----------------
EPOCHS, SPLIT, BS = 24, 12, 32
steps_per_epoch = math.ceil(N_TRAIN / BS)
sched = optim.step_decay(3e-3, 0.5, 8 * steps_per_epoch)


def new_student(seed):
    mx.random.seed(seed)
    m = TwoTower()
    mx.eval(m.parameters())
    return m, optim.Adam(learning_rate=sched)


student, s_opt = new_student(21)
s_step = nn.value_and_grad(student, margin_mse)

ndcg0 = ndcg_at(np.array(student(Qte, Bte)), gte)
log(6, "student-init", ndcg5_test=f"{ndcg0:.4f}", params=sum(p.size for _, p in tree_flatten(student.trainable_parameters())))

l0, g0 = s_step(student, Qtr[:BS], Btr[:BS], T_tr[:BS])
flat = tree_flatten(g0)
nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
log(7, "grad-audit", leaves=len(flat), nonzero=nz, first_loss=f"{l0.item():.4f}")


def run_epochs(student, s_opt, start, stop):
    s_step = nn.value_and_grad(student, margin_mse)
    for ep in range(start, stop):
        perm = rng.permutation(N_TRAIN)
        tot, n = 0.0, 0
        for i in range(0, N_TRAIN, BS):
            idx = mx.array(perm[i:i + BS])
            loss, grads = s_step(student, Qtr[idx], Btr[idx], T_tr[idx])
            s_opt.update(student, grads)
            mx.eval(student.parameters(), s_opt.state, loss)
            tot += loss.item()
            n += 1
        if ep in (0, 1, 3) or (ep + 1) % 4 == 0:
            s_te = np.array(student(Qte, Bte))
            mm_te = float(np.mean(((s_te[:, :, None] - s_te[:, None, :]) - (T_te[:, :, None] - T_te[:, None, :])) ** 2)) * LIST / (LIST - 1)
            log(6, "epoch", ep=ep + 1, lr=f"{float(s_opt.learning_rate):.2e}", margin_mse_train=f"{tot / n:.4f}",
                margin_mse_test=f"{mm_te:.4f}", ndcg5_test=f"{ndcg_at(s_te, gte):.4f}", ndcg5_teacher=f"{ndcg_teacher:.4f}")


run_epochs(student, s_opt, 0, SPLIT)

ckpt = tempfile.mkdtemp()
student.save_weights(os.path.join(ckpt, "student.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(s_opt.state)))
saved_scores = np.array(student(Qte, Bte))
with open(os.path.join(ckpt, "meta.json"), "w") as f:
    json.dump({"epoch": SPLIT}, f)
del student, s_opt
log(5, "checkpoint", dir=os.path.basename(ckpt), epoch=SPLIT)

student, s_opt = new_student(999)
student.load_weights(os.path.join(ckpt, "student.safetensors"))
s_opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
with open(os.path.join(ckpt, "meta.json")) as f:
    start = json.load(f)["epoch"]
diff = float(np.abs(np.array(student(Qte, Bte)) - saved_scores).max())
log(5, "resume", epoch=start, max_score_diff=f"{diff:.2e}", opt_step=int(s_opt.step.item()))

run_epochs(student, s_opt, start, EPOCHS)

drift = max(float(np.abs(np.array(v) - t_before[k]).max()) for k, v in tree_flatten(teacher.parameters()))
final = ndcg_at(np.array(student(Qte, Bte)), gte)
log(6, "done", ndcg5_student=f"{final:.4f}", ndcg5_teacher=f"{ndcg_teacher:.4f}", ndcg5_rawdot=f"{ndcg_raw:.4f}",
    ndcg5_random=f"{ndcg_random:.4f}", teacher_drift=f"{drift:.1e}", secs=f"{time.time() - T0:.1f}")
