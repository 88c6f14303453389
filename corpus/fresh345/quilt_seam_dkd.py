"""Quilting workshop: grade machine-stitched seams (5 grades) from 9 inspection readings.

A wide teacher is fitted first and frozen; a small student for the hand-held
inspection tablet is then trained with decoupled knowledge distillation
(target-class KD + non-target-class KD, Zhao et al. 2022).  The KD weight is
ramped in from exactly 0 over the first 2 epochs, as in the paper.
A second student of the same shape trained on labels only is printed beside it.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

T0 = time.time()
rng = np.random.default_rng(17)
N_TRAIN, N_VAL, N_FEAT, N_CLASS = 6000, 1500, 9, 5
GRADES = ["flawless", "loose", "puckered", "skipped", "snapped"]

# synthetic readings: stitch length, tension, thread thickness, needle heat,
# fabric stretch, feed speed, batting loft, humidity, operator hours
W_true = rng.normal(size=(N_FEAT, N_CLASS)) * 1.3
M_true = rng.normal(size=(N_FEAT, N_FEAT)) / 3.0


def make(n):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    h = np.tanh(x @ M_true) + 0.4 * x
    logits = h @ W_true + 0.6 * np.sin(2.0 * x[:, :N_CLASS])
    logits += rng.gumbel(size=logits.shape) * 0.9
    return x, logits.argmax(1).astype(np.int32)


xtr, ytr = make(N_TRAIN)
xva, yva = make(N_VAL)
xtr_m, ytr_m, xva_m, yva_m = map(mx.array, (xtr, ytr, xva, yva))
majority = np.bincount(ytr, minlength=N_CLASS).max() / N_TRAIN


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.GELU()]
    return nn.Sequential(*layers[:-1])


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y).item())


def batches(bs, seed):
    order = np.random.default_rng(seed).permutation(N_TRAIN)
    for i in range(0, N_TRAIN - bs + 1, bs):
        idx = mx.array(order[i:i + bs])
        yield xtr_m[idx], ytr_m[idx]


# ---------------- teacher (fitted quietly) ----------------
mx.random.seed(0)
teacher = mlp([N_FEAT, 160, 160, N_CLASS])
t_opt = optim.Adam(learning_rate=2e-3)


def ce_loss(model, x, y):
    return mx.mean(nn.losses.cross_entropy(model(x), y))


t_step = nn.value_and_grad(teacher, ce_loss)
for ep in range(6):
    for xb, yb in batches(128, 100 + ep):
        loss, g = t_step(teacher, xb, yb)
        t_opt.update(teacher, g)
        mx.eval(teacher.parameters(), t_opt.state)
teacher.eval()
teacher.freeze()
teacher_acc = accuracy(teacher, xva_m, yva_m)
teacher_snapshot = [np.array(v) for _, v in nn.utils.tree_flatten(teacher.parameters())]
print(f"ts={time.time()-T0:5.1f} phase=teacher params={sum(v.size for v in teacher_snapshot)} "
      f"val_acc={teacher_acc:.4f} majority={majority:.4f}")

# ---------------- decoupled KD ----------------
T, ALPHA, BETA = 4.0, 1.0, 8.0
EPOCHS, BS = 12, 96
STEPS_PER_EPOCH = N_TRAIN // BS
WARM = 2 * STEPS_PER_EPOCH


def dkd_terms(s_logits, t_logits, y):
    gt = mx.eye(N_CLASS)[y]
    ps = mx.softmax(s_logits / T, axis=1)
    pt = mx.softmax(t_logits / T, axis=1)
    # binary (target vs rest) distributions
    bs_t = mx.sum(ps * gt, axis=1)
    bt_t = mx.sum(pt * gt, axis=1)
    bs = mx.clip(mx.stack([bs_t, 1.0 - bs_t], axis=1), 1e-7, 1.0)
    bt = mx.clip(mx.stack([bt_t, 1.0 - bt_t], axis=1), 1e-7, 1.0)
    tckd = mx.sum(bt * (mx.log(bt) - mx.log(bs)), axis=1).mean() * T * T
    # distributions over the non-target classes only
    ls_nt = nn.log_softmax(s_logits / T - 1000.0 * gt, axis=1)
    lt_nt = nn.log_softmax(t_logits / T - 1000.0 * gt, axis=1)
    pt_nt = mx.exp(lt_nt)
    nckd = mx.sum(pt_nt * (lt_nt - ls_nt) * (1.0 - gt), axis=1).mean() * T * T
    return tckd, nckd


def student_loss(model, x, y, t_logits, w):
    s = model(x)
    ce = mx.mean(nn.losses.cross_entropy(s, y))
    tckd, nckd = dkd_terms(s, t_logits, y)
    total = ce + w * (ALPHA * tckd + BETA * nckd)
    return total, (ce, tckd, nckd)


def run_student(use_kd, seed):
    mx.random.seed(seed)
    student = mlp([N_FEAT, 14, N_CLASS])
    mx.eval(student.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, weight_decay=5e-4, nesterov=True)
    step_fn = nn.value_and_grad(student, student_loss)
    name = "dkd" if use_kd else "ce_only"
    step = 0
    for ep in range(1, EPOCHS + 1):
        sums = np.zeros(4)
        nb = 0
        for xb, yb in batches(BS, 1000 + ep):
            w = min(step / WARM, 1.0) if use_kd else 0.0
            t_logits = mx.stop_gradient(teacher(xb))
            (total, (ce, tckd, nckd)), g = step_fn(student, xb, yb, t_logits, mx.array(w))
            opt.update(student, g)
            mx.eval(student.parameters(), opt.state, total, ce, tckd, nckd)
            sums += [total.item(), ce.item(), tckd.item(), nckd.item()]
            nb += 1
            step += 1
        if ep == 1:
            n_leaves = sum(1 for _, v in nn.utils.tree_flatten(g) if float(mx.abs(v).max()) > 0)
            print(f"ts={time.time()-T0:5.1f} phase={name} grad_leaves_nonzero={n_leaves}/"
                  f"{len(nn.utils.tree_flatten(g))}")
        if use_kd or ep % 2 == 0 or ep == 1:
            m = sums / nb
            agree = float(mx.mean(mx.argmax(student(xva_m), 1) == mx.argmax(teacher(xva_m), 1)).item())
            print(f"ts={time.time()-T0:5.1f} phase={name} epoch={ep} kd_w={w:.3f} total={m[0]:.4f} "
                  f"ce={m[1]:.4f} tckd={m[2]:.4f} nckd={m[3]:.4f} val_acc={accuracy(student, xva_m, yva_m):.4f} "
                  f"agree_teacher={agree:.4f} teacher_acc={teacher_acc:.4f} majority={majority:.4f}")
    return accuracy(student, xva_m, yva_m)


acc_kd = run_student(True, 5)
acc_ce = run_student(False, 5)
drift = max(float(np.abs(a - np.array(b)).max()) for a, (_, b) in
            zip(teacher_snapshot, nn.utils.tree_flatten(teacher.parameters())))
print(f"ts={time.time()-T0:5.1f} phase=summary teacher_acc={teacher_acc:.4f} dkd_student_acc={acc_kd:.4f} "
      f"ce_only_student_acc={acc_ce:.4f} majority={majority:.4f} teacher_drift={drift:.1e}")
