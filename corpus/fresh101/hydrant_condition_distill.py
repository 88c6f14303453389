"""Fire-hydrant condition triage: distil a big classifier into a tiny one.

The utility's inspection crews grade every hydrant as
    0 = in service, 1 = needs service, 2 = replace.
A large MLP (the teacher) is trained first on the inspection records; it is
then frozen and used as a soft-label source for a 16-unit student that has to
run on the crews' handheld units.  For comparison the same tiny student is also
trained from scratch on the hard labels only.  Three models, trained one after
another, each from fresh weights.

Losses are reported in bits (cross-entropy / ln 2), accuracies as percentages.
"""

import logging
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(name)-13s | %(message)s")
log_data = logging.getLogger("data")

LN2 = math.log(2.0)
CLASSES = ("in-service", "service", "replace")


# --------------------------------------------------------------------------
# synthetic inspection records
# --------------------------------------------------------------------------
def make_records(n, rng):
    age = rng.uniform(1, 90, n)                     # years in the ground
    static_psi = rng.normal(65, 12, n)              # static main pressure
    flow_gpm = rng.normal(1100, 300, n)             # flow at 20 psi residual
    paint_yrs = rng.exponential(4.0, n)             # years since repaint
    corrosion = np.clip(rng.normal(0.3 + age / 150, 0.2, n), 0, 1)
    freeze = rng.poisson(25, n).astype(np.float64)  # freeze-thaw cycles / yr

    # made-up hazard law
    wear = (0.035 * age + 2.2 * corrosion ** 2 + 0.012 * freeze
            + 0.9 * np.tanh((700 - flow_gpm) / 250) + 0.05 * paint_yrs
            - 0.02 * (static_psi - 65))
    wear += rng.normal(0, 0.35, n)
    y = np.digitize(wear, [2.3, 3.6])               # three grades
    flip = rng.random(n) < 0.05                     # 5% mis-graded by crews
    y[flip] = rng.integers(0, 3, flip.sum())
    X = np.stack([age, static_psi, flow_gpm, paint_yrs, corrosion, freeze], 1)
    return X.astype(np.float32), y.astype(np.int32)


rng = np.random.default_rng(2024)
Xtr, ytr = make_records(6000, rng)
Xva, yva = make_records(1500, rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
counts = np.bincount(ytr, minlength=3)
log_data.info("train %d / valid %d records; grade mix %s", len(ytr), len(yva),
              ", ".join(f"{c}={100 * k / len(ytr):.1f}%" for c, k in zip(CLASSES, counts)))
prior = counts / counts.sum()
log_data.info("majority-class valid accuracy %.1f%%; prior entropy %.3f bits",
              100 * np.mean(yva == np.argmax(counts)), -(prior * np.log2(prior)).sum())

Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------
class Teacher(nn.Module):
    def __init__(self, d_in=6, width=128, n_cls=3, p_drop=0.1):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, width)
        self.head = nn.Linear(width, n_cls)
        self.drop = nn.Dropout(p_drop)

    def __call__(self, x):
        h = self.drop(nn.silu(self.l1(x)))
        h = self.drop(nn.silu(self.l2(h)))
        h = h + self.drop(nn.silu(self.l3(h)))
        return self.head(h)


class Student(nn.Module):
    def __init__(self, d_in=6, width=16, n_cls=3):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.head = nn.Linear(width, n_cls)

    def __call__(self, x):
        return self.head(nn.relu(self.l1(x)))


def n_params(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


# --------------------------------------------------------------------------
# losses
# --------------------------------------------------------------------------
def hard_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


class DistillLoss:
    """alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(labels)."""

    def __init__(self, teacher, temperature=3.0, alpha=0.7):
        self.teacher = teacher
        self.T = temperature
        self.alpha = alpha

    def __call__(self, model, x, y):
        t_logits = mx.stop_gradient(self.teacher(x))   # frozen teacher, eval mode
        s_logits = model(x)
        T = self.T
        p_t = mx.softmax(t_logits / T, axis=-1)
        log_p_t = nn.log_softmax(t_logits / T, axis=-1)
        log_p_s = nn.log_softmax(s_logits / T, axis=-1)
        kl = mx.sum(p_t * (log_p_t - log_p_s), axis=-1).mean()
        ce = nn.losses.cross_entropy(s_logits, y, reduction="mean")
        return self.alpha * T * T * kl + (1 - self.alpha) * ce


# --------------------------------------------------------------------------
# one training routine used for all three models
# --------------------------------------------------------------------------
def evaluate(model, teacher=None):
    model.eval()
    logits = model(Xva_m)
    ce = nn.losses.cross_entropy(logits, yva_m, reduction="mean")
    pred = mx.argmax(logits, axis=-1)
    acc = mx.mean(pred == yva_m)
    out = {"bits": ce.item() / LN2, "acc": 100 * acc.item()}
    if teacher is not None:
        out["agree"] = 100 * mx.mean(pred == mx.argmax(teacher(Xva_m), -1)).item()
    model.train()
    return out


def fit(name, model, loss_fn, lr, epochs, batch, seed, teacher=None, report_every=5):
    log = logging.getLogger(name)
    mx.random.seed(seed)
    order_rng = np.random.default_rng(seed)
    opt = optim.AdamW(learning_rate=optim.cosine_decay(lr, epochs * (len(ytr) // batch)),
                      weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    model.train()
    log.info("start: %d trainable parameters, lr %.0e, %d epochs of %d",
             n_params(model), lr, epochs, batch)

    n_batches = len(ytr) // batch
    checked = False
    for ep in range(1, epochs + 1):
        perm = mx.array(order_rng.permutation(len(ytr)).astype(np.int32))
        tot = 0.0
        for b in range(n_batches):
            idx = perm[b * batch:(b + 1) * batch]
            loss, grads = step_fn(model, Xtr_m[idx], ytr_m[idx])
            if not checked:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                log.info("first-step gradient check: %d leaves, %d all-zero %s",
                         len(flat), len(zero), zero if zero else "")
                if zero:
                    raise SystemExit(f"{name}: dead gradient leaves {zero}")
                checked = True
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if ep == 1 or ep % report_every == 0 or ep == epochs:
            m = evaluate(model, teacher)
            extra = f" | agree_w_teacher {m['agree']:5.1f}%" if "agree" in m else ""
            log.info("epoch %2d | train objective %.4f nats | valid xent %.4f bits | "
                     "valid acc %5.1f%%%s", ep, tot / n_batches, m["bits"], m["acc"], extra)
    model.eval()
    return evaluate(model, teacher)


# 1) teacher ------------------------------------------------------------------
mx.random.seed(11)
teacher = Teacher()
t_final = fit("teacher", teacher, hard_loss, lr=2e-3, epochs=20, batch=128, seed=11)
teacher.eval()
teacher.freeze()        # from here on the teacher is a fixed soft-label source
snapshot = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}

# 2) tiny student, hard labels only ------------------------------------------
mx.random.seed(22)
plain = Student()
p_final = fit("student.plain", plain, hard_loss, lr=5e-3, epochs=30, batch=64,
              seed=22, teacher=teacher, report_every=10)

# 3) same tiny student, distilled --------------------------------------------
mx.random.seed(22)
kd = Student()
kd_final = fit("student.kd", kd, DistillLoss(teacher), lr=5e-3, epochs=30, batch=64,
               seed=22, teacher=teacher, report_every=10)

drift = max(float(np.abs(np.array(v) - snapshot[k]).max())
            for k, v in tree_flatten(teacher.parameters()))
summary = logging.getLogger("summary")
summary.info("teacher frozen during distillation: max weight drift %.1e", drift)
summary.info("%-14s %8s %10s %12s", "model", "params", "valid acc", "valid bits")
for nm, mdl, res in (("teacher", teacher, t_final), ("student.plain", plain, p_final),
                     ("student.kd", kd, kd_final)):
    params = sum(v.size for _, v in tree_flatten(mdl.parameters()))
    summary.info("%-14s %8d %9.1f%% %12.4f", nm, params, res["acc"], res["bits"])
