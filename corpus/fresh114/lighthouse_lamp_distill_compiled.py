"""Lighthouse lamp-failure risk (4 levels) from 9 telemetry features.

Phase 1 trains a wide teacher (SGD + Nesterov). Phase 2 precomputes the teacher's soft
targets (temperature 2) for the whole training set, then distils them into a small student
whose step is mx.compile'd with a hand-written SGD update (state in inputs=/outputs=).
The distillation loss is a KL divergence reported in bits (its floor is 0).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
LEVELS = ["nominal", "watch", "service", "replace"]


def telemetry(n):
    hours = rng.gamma(3.0, 2500.0, n)
    cycles = hours / 12 + rng.normal(0, 150, n)
    volt_ripple = rng.lognormal(-2.0, 0.5, n)
    temp = rng.normal(35, 8, n)
    humid = rng.uniform(40, 100, n)
    salt = rng.exponential(1.0, n)
    lux_drop = 0.00002 * hours + 0.4 * volt_ripple + rng.normal(0, 0.05, n)
    flicker = rng.poisson(0.3 + 4 * volt_ripple)
    fan = rng.normal(1800, 200, n) - 8 * (temp - 35)
    risk = (hours / 9000 + 2.5 * lux_drop + 0.4 * flicker + 0.02 * (temp - 35) + 0.3 * salt
            + 0.01 * (humid - 70) - 0.001 * (fan - 1800) + rng.normal(0, 0.35, n))
    y = np.digitize(risk, np.quantile(risk, [0.45, 0.72, 0.9]))
    X = np.stack([np.log(hours), cycles / 1000, np.log(volt_ripple), temp, humid, salt,
                  lux_drop, flicker, fan / 1000], 1)
    return X.astype(np.float32), y.astype(np.int32)


X_tr, y_tr = telemetry(8000)
X_te, y_te = telemetry(2000)
mu, sd = X_tr.mean(0), X_tr.std(0)
X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
Xtr, Ytr, Xte = mx.array(X_tr), mx.array(y_tr), mx.array(X_te)


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def accuracy(model, X, y):
    return float((np.array(mx.argmax(model(X), axis=1)) == y).mean())


def check_grads(name, grads):
    leaves = tree_flatten(grads)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"[{name}] gradient check: {len(leaves)} leaves, zero: {zero if zero else 'none'}")


mx.random.seed(0)
# ---------------- phase 1: teacher ----------------
teacher = mlp([9, 256, 256, 4])
t_opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)


def ce_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


t_vg = nn.value_and_grad(teacher, ce_loss)
check_grads("teacher", t_vg(teacher, Xtr[:128], Ytr[:128])[1])
print(f"[teacher] chance accuracy {max(np.bincount(y_tr)) / len(y_tr):.3f} (majority class)")
t0 = time.time()
for epoch in range(1, 9):
    perm = rng.permutation(len(y_tr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - 127, 128):
        idx = mx.array(perm[i:i + 128])
        loss, g = t_vg(teacher, Xtr[idx], Ytr[idx])
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state, loss)
        tot += loss.item(); nb += 1
    print(f"[teacher] epoch {epoch}  ce {tot / nb:.4f}  test acc {accuracy(teacher, Xte, y_te):.3f}"
          f"  {time.time() - t0:.1f}s")

# ---------------- phase 2: soft targets (silent), then the student ----------------
teacher.freeze()
T = 2.0
soft = []
for i in range(0, len(y_tr), 500):       # chunked teacher pass over the whole train set
    soft.append(mx.softmax(mx.stop_gradient(teacher(Xtr[i:i + 500])) / T, axis=-1))
soft = mx.concatenate(soft, axis=0)
mx.eval(soft)
ent_bits = float(-(soft * mx.log2(soft + 1e-12)).sum(-1).mean())
print(f"[distil] soft targets ready: T={T}, mean teacher entropy {ent_bits:.3f} bits")

student = mlp([9, 24, 4])
LR = 0.5


def kl_bits(m, x, p):
    logq = nn.log_softmax(m(x) / T, axis=-1)
    kl = (p * (mx.log(p + 1e-12) - logq)).sum(-1).mean()
    return kl / math.log(2.0)


s_vg = nn.value_and_grad(student, kl_bits)
check_grads("student", s_vg(student, Xtr[:128], soft[:128])[1])
state = [student.state]


@partial(mx.compile, inputs=state, outputs=state)
def student_step(x, p):
    loss, g = s_vg(student, x, p)
    student.update(tree_map(lambda w, gw: w - LR * gw, student.trainable_parameters(), g))
    return loss


print(f"[student] {sum(v.size for _, v in tree_flatten(student.parameters()))} params vs teacher "
      f"{sum(v.size for _, v in tree_flatten(teacher.parameters()))}")
print(f"[student] before: KL {kl_bits(student, Xtr, soft).item():.4f} bits  test acc "
      f"{accuracy(student, Xte, y_te):.3f}")
for epoch in range(1, 31):
    perm = rng.permutation(len(y_tr))
    tot, nb = 0.0, 0
    for i in range(0, len(perm) - 127, 128):
        idx = mx.array(perm[i:i + 128])
        loss = student_step(Xtr[idx], soft[idx])
        mx.eval(state, loss)
        tot += loss.item(); nb += 1
    if epoch % 5 == 0:
        print(f"[student] epoch {epoch:2d}  KL {tot / nb:.4f} bits  test acc "
              f"{accuracy(student, Xte, y_te):.3f}  agree w/ teacher "
              f"{float((np.array(mx.argmax(student(Xte), 1)) == np.array(mx.argmax(teacher(Xte), 1))).mean()):.3f}")
print(f"[done] teacher acc {accuracy(teacher, Xte, y_te):.3f}  student acc {accuracy(student, Xte, y_te):.3f}")
