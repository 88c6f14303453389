"""Morris-dance side archive: tell the tradition of a dance (Cotswold, Border,
North-West clog, Longsword) from 9 synthetic step/figure measurements.

Stage "teacher": a wide MLP trained with cross entropy (Adam).
Stage "student": the teacher is frozen on purpose and a small MLP is distilled
from it (T^2 * KL(teacher || student) at T=3 plus 0.3 * CE), Lion with a
learning rate warmed up linearly from exactly 0.  Gradients go through
mx.distributed all_sum (a world of one process here).  tqdm-like progress."""
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

world = mx.distributed.init()
rank, size = world.rank(), world.size()
mx.random.seed(2024 + rank)

TRADITIONS = ["cotswold", "border", "northwest", "longsword"]


def make_data(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    centres = mx.random.normal((4, 9), key=mx.random.key(99)) * 1.1
    y = mx.random.randint(0, 4, (n,), key=k1)
    X = centres[y] + 0.9 * mx.random.normal((n, 9), key=k2)
    X = X + 0.5 * mx.tanh(X[:, ::-1] * X)  # a little curvature
    flip = mx.random.uniform(shape=(n,), key=k3) < 0.06  # 6 % archive mislabels
    y = mx.where(flip, (y + 1) % 4, y)
    return X, y


def mlp(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


def bar(tag, i, n, t0, extra):
    done = int(20 * i / n)
    rate = i / max(time.perf_counter() - t0, 1e-9)
    return f"{tag}: {100 * i // n:3d}%|{'#' * done}{' ' * (20 - done)}| {i}/{n} [{rate:6.1f}it/s, {extra}]"


def accuracy(m, X, y):
    return 100.0 * mx.mean(mx.argmax(m(X), axis=-1) == y).item()


def allsum_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g) / size, grads)


key = mx.random.key(5)
ktr, kva = mx.random.split(key)
Xtr, ytr = make_data(4000, ktr)
Xva, yva = make_data(1000, kva)

# ---------------- teacher ----------------
teacher = mlp([9, 128, 128, 4])
t_opt = optim.Adam(learning_rate=2e-3)


def ce_loss(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


t_step = nn.value_and_grad(teacher, ce_loss)
BATCH = 100
n_batches = Xtr.shape[0] // BATCH
T_STEPS = 600
t0 = time.perf_counter()
for it in range(1, T_STEPS + 1):
    idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
    loss, g = t_step(teacher, Xtr[idx], ytr[idx])
    t_opt.update(teacher, allsum_mean(g))
    mx.eval(teacher.parameters(), t_opt.state, loss)
    if it % 150 == 0:
        print(bar("teacher", it, T_STEPS, t0, f"ce={loss.item():.3f}"), flush=True)
teacher_acc = accuracy(teacher, Xva, yva)
print(f"teacher held-out accuracy {teacher_acc:.1f}%")

# ---------------- student ----------------
teacher.freeze()
teacher.eval()
student = mlp([9, 16, 4])
TEMP, ALPHA = 3.0, 0.3
S_STEPS, WARM = 900, 150
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM), optim.cosine_decay(3e-3, S_STEPS - WARM, 1e-4)], [WARM])
s_opt = optim.Lion(learning_rate=sched, weight_decay=1e-4)


def kd_loss(m, x, y):
    s_logits = m(x)
    t_logits = mx.stop_gradient(teacher(x))
    log_p_t = nn.log_softmax(t_logits / TEMP, axis=-1)
    log_p_s = nn.log_softmax(s_logits / TEMP, axis=-1)
    kl = mx.sum(mx.exp(log_p_t) * (log_p_t - log_p_s), axis=-1).mean() * TEMP * TEMP
    ce = nn.losses.cross_entropy(s_logits, y, reduction="mean")
    return (1 - ALPHA) * kl + ALPHA * ce, (kl, ce)


s_step = nn.value_and_grad(student, kd_loss)
frozen_before = [v for _, v in tree_flatten(teacher.parameters())]
t0 = time.perf_counter()
for it in range(1, S_STEPS + 1):
    idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
    (loss, (kl, ce)), g = s_step(student, Xtr[idx], ytr[idx])
    s_opt.update(student, allsum_mean(g))
    mx.eval(student.parameters(), s_opt.state, loss, kl, ce)
    if it == 1 or it % 150 == 0:
        lr = s_opt.learning_rate.item()
        print(bar("student", it, S_STEPS, t0, f"kd={kl.item():.3f} ce={ce.item():.3f} lr={lr:.2e}"), flush=True)

drift = max(mx.max(mx.abs(a - b)).item()
            for a, (_, b) in zip(frozen_before, tree_flatten(teacher.parameters())))
student_acc = accuracy(student, Xva, yva)
agree = 100.0 * mx.mean(mx.argmax(student(Xva), -1) == mx.argmax(teacher(Xva), -1)).item()
n_s = sum(v.size for _, v in tree_flatten(student.parameters()))
n_t = sum(v.size for _, v in tree_flatten(teacher.parameters()))
print(f"student held-out accuracy {student_acc:.1f}% (teacher {teacher_acc:.1f}%, chance 25.0%), "
      f"top-1 agreement with teacher {agree:.1f}%")
print(f"params student/teacher {n_s}/{n_t}; teacher max |drift| {drift:.1e}; world size {size}")
sys.exit(0)
