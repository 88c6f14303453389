"""Opal grading bench: distil a wide teacher into a pocket student.

Four classes (precious / common / fire / boulder) from 8 synthetic bench
readings. Stage A trains the teacher, stage B freezes it and distils a tiny
student with an annealed temperature; an EMA copy of the student is scored too.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(214)
N_TR, N_VA, D, C = 3000, 600, 8, 4


def make_split(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    x = mx.random.normal((n, D), key=k1)
    # readings: play-of-colour, SG, RI, water %, body tone, matrix %, fire hue, UV
    w = mx.array([[2.0, -0.5, 0.3, 1.0],
                  [0.4, 1.2, -0.8, 0.1],
                  [-0.3, 0.6, 0.2, -1.1],
                  [0.9, -0.2, -0.6, 0.3],
                  [-0.7, 0.1, 1.4, 0.6],
                  [0.0, -0.9, 0.1, 1.8],
                  [0.2, 0.3, 1.6, -0.4],
                  [0.5, 0.7, -0.3, 0.2]])
    logits = x @ w + 0.8 * mx.sin(2.0 * x[:, :4]) @ w[:4] * 0.5
    g = -mx.log(-mx.log(mx.random.uniform(shape=logits.shape, key=k2) + 1e-9) + 1e-9)
    y = mx.argmax(logits + 0.6 * g, axis=1)
    return x, y


xtr, ytr = make_split(N_TR, mx.random.key(1))
xva, yva = make_split(N_VA, mx.random.key(2))


def mlp(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


teacher = mlp([D, 96, 96, C])
student = mlp([D, 12, C])


def acc(model, x, y):
    return mx.mean(mx.argmax(model(x), axis=1) == y).item() * 100.0


def emit(**kw):
    print(json.dumps(kw), flush=True)


# ---- stage A: teacher --------------------------------------------------------
t_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def t_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


t_vg = nn.value_and_grad(teacher, t_loss)
t0 = time.time()
B = 100
for ep in range(1, 9):
    perm = mx.random.permutation(N_TR)
    tot = 0.0
    for i in range(0, N_TR, B):
        idx = perm[i:i + B]
        loss, g = t_vg(teacher, xtr[idx], ytr[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state, loss)
        tot += loss.item()
    emit(stage="A", epoch=ep, ce=round(tot / (N_TR // B), 4), val_acc_pct=round(acc(teacher, xva, yva), 2))

teacher.freeze()
teacher_val = acc(teacher, xva, yva)
t_snap = [v for _, v in tree_flatten(teacher.parameters())]

# ---- stage B: student distillation ------------------------------------------
s_opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
ema = tree_map(lambda p: mx.array(p), student.parameters())
mx.eval(ema)
ema_model = mlp([D, 12, C])
ALPHA = 0.7


def s_loss(m, x, y, tlog, T):
    slog = m(x)
    lt = tlog / T - mx.logsumexp(tlog / T, axis=-1, keepdims=True)
    ls = slog / T - mx.logsumexp(slog / T, axis=-1, keepdims=True)
    kd = mx.sum(mx.exp(lt) * (lt - ls), axis=-1)
    kd = mx.mean(kd) * T * T
    ce = nn.losses.cross_entropy(slog, y, reduction="mean")
    return ALPHA * kd + (1 - ALPHA) * ce, (kd, ce)


s_vg = nn.value_and_grad(student, lambda m, x, y, tl, T: s_loss(m, x, y, tl, T)[0])
g_first = None
E = 14
step = 0
for ep in range(1, E + 1):
    # temperature anneals 1 -> 6 over the first half, pushing the scaled KD term up on purpose
    T = 1.0 + 5.0 * min(1.0, (ep - 1) / (E // 2))
    perm = mx.random.permutation(N_TR)
    kd_sum = ce_sum = 0.0
    nb = 0
    for i in range(0, N_TR, B):
        idx = perm[i:i + B]
        xb, yb = xtr[idx], ytr[idx]
        tl = mx.stop_gradient(teacher(xb))
        loss, g = s_vg(student, xb, yb, tl, T)
        if g_first is None:
            g_first = {k: mx.abs(v).sum().item() for k, v in tree_flatten(g)}
        s_opt.update(student, g)
        step += 1
        d = min(0.98, (1 + step) / (10 + step))
        ema = tree_map(lambda e, p: d * e + (1 - d) * p, ema, student.parameters())
        mx.eval(student.parameters(), s_opt.state, ema, loss)
        _, (kd, ce) = s_loss(student, xb, yb, tl, T)
        kd_sum += kd.item()
        ce_sum += ce.item()
        nb += 1
    ema_model.update(ema)
    emit(stage="B", epoch=ep, T=round(T, 2), kd=round(kd_sum / nb, 4), ce=round(ce_sum / nb, 4),
         student_pct=round(acc(student, xva, yva), 2), ema_pct=round(acc(ema_model, xva, yva), 2),
         teacher_ref_pct=round(teacher_val, 2))

drift = max(mx.abs(a - b).max().item() for a, (_, b) in zip(t_snap, tree_flatten(teacher.parameters())))
emit(audit="grads", zero_grad_params=[k for k, v in g_first.items() if v == 0.0],
     teacher_drift=drift, seconds=round(time.time() - t0, 2))
emit(final=True, teacher_pct=round(teacher_val, 2), student_pct=round(acc(student, xva, yva), 2),
     ema_pct=round(acc(ema_model, xva, yva), 2),
     student_params=sum(v.size for _, v in tree_flatten(student.parameters())),
     teacher_params=sum(v.size for _, v in tree_flatten(teacher.parameters())))
