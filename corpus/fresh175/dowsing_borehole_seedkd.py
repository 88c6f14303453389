"""Borehole yield triage: train a 3-seed teacher ensemble, then distil it into a small student.

Classes: 0 = dry (< 0.2 L/s), 1 = hand-pump (0.2-1.5 L/s), 2 = motorised (> 1.5 L/s).
Features are synthetic survey readings: depth to fractured rock, clay fraction, slope,
distance to the nearest stream, NDVI in dry season, a resistivity sounding and two noise columns.
"""
import logging
import math
import random
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s kd: %(message)s",
                    datefmt="%H:%M:%S", stream=sys.stdout)
log = logging.getLogger("kd")

rng = random.Random(175)


def make_survey(n):
    xs, ys = [], []
    for _ in range(n):
        depth = rng.uniform(5, 80)          # m to fractured rock
        clay = rng.betavariate(2, 5)        # fraction
        slope = rng.uniform(0, 18)          # degrees
        stream = rng.expovariate(1 / 600)   # m
        ndvi = rng.uniform(0.05, 0.7)
        rho = math.exp(rng.gauss(4.2, 0.6))  # ohm m
        n1, n2 = rng.gauss(0, 1), rng.gauss(0, 1)
        score = (1.6 * ndvi - 2.2 * clay - 0.035 * slope - 0.0009 * stream
                 + 0.9 * math.sin(depth / 14.0) - 0.45 * (math.log(rho) - 4.2) ** 2
                 + rng.gauss(0, 0.35))
        y = 0 if score < -1.05 else (1 if score < -0.25 else 2)
        xs.append([depth / 40 - 1, clay * 4 - 1, slope / 9 - 1, math.log1p(stream) / 3.5 - 1.8,
                   ndvi * 3 - 1, math.log(rho) - 4.2, n1, n2])
        ys.append(y)
    return mx.array(xs), mx.array(ys)


Xtr, ytr = make_survey(4800)
Xva, yva = make_survey(1200)
counts = [int((ytr == c).sum().item()) for c in range(3)]
majority = max(counts) / sum(counts)


class Teacher(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(),
                                  nn.Linear(96, 3))

    def __call__(self, x):
        return self.body(x)


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 16)
        self.l2 = nn.Linear(16, 3)

    def __call__(self, x):
        return self.l2(nn.silu(self.l1(x)))


def accuracy(model, X, y):
    return (mx.argmax(model(X), axis=1) == y).mean().item()


def bar(frac, width=20):
    k = int(round(frac * width))
    return "#" * k + "." * (width - k)


# ---------------- stage 1: three teachers, each from its own seed ----------------
teachers = []
EPOCHS_T, BS = 8, 96
for seed in range(3):
    mx.random.seed(1000 + seed)
    t = Teacher()
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
    lg = nn.value_and_grad(t, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
    t0 = time.time()
    for ep in range(1, EPOCHS_T + 1):
        perm = mx.random.permutation(Xtr.shape[0])
        tot, nb = 0.0, 0
        for i in range(0, Xtr.shape[0], BS):
            idx = perm[i:i + BS]
            loss, g = lg(t, Xtr[idx], ytr[idx])
            opt.update(t, g)
            mx.eval(t.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        va = accuracy(t, Xva, yva)
        print(f"teacher seed {seed + 1}/3 epoch {ep}/{EPOCHS_T} |{bar(ep / EPOCHS_T)}| "
              f"loss={tot / nb:.4f} val_acc={100 * va:.1f}% [{time.time() - t0:.1f}s]", flush=True)
    t.freeze()  # teachers are frozen on purpose from here on
    teachers.append(t)

ens_logits = lambda X: sum(t(X) for t in teachers) / len(teachers)
ens_acc = (mx.argmax(ens_logits(Xva), axis=1) == yva).mean().item()
soft_tr = ens_logits(Xtr)
mx.eval(soft_tr)
log.info("ensemble val_acc %.2f%% (majority-class baseline %.2f%%)", 100 * ens_acc, 100 * majority)

# ---------------- stage 2: student, temperature annealed 4 -> 1 ----------------
mx.random.seed(7)
student = Student()
sopt = optim.Adamax(learning_rate=4e-3)
EPOCHS_S = 12
ALPHA = 0.7


def kd_loss(model, x, y, soft, T):
    logits = model(x)
    p_t = mx.softmax(soft / T, axis=1)
    log_p_s = logits / T - mx.logsumexp(logits / T, axis=1, keepdims=True)
    kl = (p_t * (mx.log(p_t + 1e-9) - log_p_s)).sum(axis=1).mean() * T * T
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    return ALPHA * kl + (1 - ALPHA) * ce, (kl, ce)


kd_grad = nn.value_and_grad(student, kd_loss)

# gradient audit before training: every student parameter must receive a gradient
(_, _), g0 = kd_grad(student, Xtr[:256], ytr[:256], soft_tr[:256], 4.0)
for name, g in tree_flatten(g0):
    log.info("audit grad |%s| = %.3e", name, mx.linalg.norm(g.reshape(-1)).item())

for ep in range(1, EPOCHS_S + 1):
    T = 4.0 - 3.0 * (ep - 1) / (EPOCHS_S - 1)
    perm = mx.random.permutation(Xtr.shape[0])
    s_tot = s_kl = s_ce = 0.0
    nb = 0
    for i in range(0, Xtr.shape[0], 128):
        idx = perm[i:i + 128]
        (loss, (kl, ce)), g = kd_grad(student, Xtr[idx], ytr[idx], soft_tr[idx], T)
        sopt.update(student, g)
        mx.eval(student.parameters(), sopt.state, loss, kl, ce)
        s_tot += loss.item(); s_kl += kl.item(); s_ce += ce.item(); nb += 1
    log.info("ep %02d T=%.2f total %.4f | kl*T^2 %.4f | ce %.4f | val_acc %.1f%% (teachers %.1f%%)",
             ep, T, s_tot / nb, s_kl / nb, s_ce / nb, 100 * accuracy(student, Xva, yva), 100 * ens_acc)

n_t = sum(v.size for _, v in tree_flatten(teachers[0].parameters()))
n_s = sum(v.size for _, v in tree_flatten(student.parameters()))
print("\n  model              params   val_acc")
print(f"  majority class          0   {100 * majority:6.2f}%")
print(f"  teacher x3       {3 * n_t:8d}   {100 * ens_acc:6.2f}%")
print(f"  student          {n_s:8d}   {100 * accuracy(student, Xva, yva):6.2f}%")
