"""Hazelnut kernel grading (premium / standard / reject) from cheap field readings.

At the packing station we only have five field readings per lot.  During the
training season the lab also X-rayed each sample (kernel fill fraction) and ran
an aflatoxin assay.  Those two lab numbers are not available in production, so
they are used only to train a teacher; the field-only student learns from the
teacher's softened predictions plus the hard grades (learning using privileged
information).  Results are written as LaTeX table rows for the season report.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

GRADES = ["premium", "standard", "reject"]
rng = np.random.default_rng(2024)


def make_lots(n):
    husk = rng.normal(0.0, 1.0, n)            # husk colour index
    weight = rng.normal(0.0, 1.0, n)          # in-shell nut weight (z)
    moist = rng.normal(0.0, 1.0, n)           # shell moisture (z)
    alt = rng.normal(0.0, 1.0, n)             # orchard altitude (z)
    days = rng.exponential(1.0, n)            # days since drop / 5
    fill = 0.7 * weight - 0.4 * moist + 0.3 * alt + 0.6 * rng.normal(0.0, 1.0, n)
    afla = 0.8 * moist + 0.5 * days - 0.2 * husk + 0.6 * rng.normal(0.0, 1.0, n)
    score = np.stack([1.6 * fill - 1.2 * afla,
                      0.4 * fill - 0.2 * afla + 0.3,
                      -1.0 * fill + 1.5 * afla - 0.5], axis=1)
    score = 1.4 * score + 0.6 * rng.gumbel(size=(n, 3))
    grade = score.argmax(axis=1)
    field = np.stack([husk, weight, moist, alt, days], axis=1)
    lab = np.stack([fill, afla], axis=1)
    return field.astype(np.float32), lab.astype(np.float32), grade.astype(np.int32)


f_tr, l_tr, y_tr = make_lots(6000)
f_va, l_va, y_va = make_lots(2000)
mu_f, sd_f = f_tr.mean(0), f_tr.std(0)
mu_l, sd_l = l_tr.mean(0), l_tr.std(0)
f_tr, f_va = (f_tr - mu_f) / sd_f, (f_va - mu_f) / sd_f
l_tr, l_va = (l_tr - mu_l) / sd_l, (l_va - mu_l) / sd_l

prior = np.bincount(y_tr, minlength=3) / len(y_tr)
prior_bits = float(-(prior * np.log2(prior)).sum())
majority_acc = float((y_va == prior.argmax()).mean() * 100)

Xf_tr, Xf_va = mx.array(f_tr), mx.array(f_va)
Xfl_tr = mx.array(np.concatenate([f_tr, l_tr], 1))
Xfl_va = mx.array(np.concatenate([f_va, l_va], 1))
Y_tr, Y_va = mx.array(y_tr), mx.array(y_va)


class Grader(nn.Module):
    def __init__(self, n_in, width, act):
        super().__init__()
        self.l1 = nn.Linear(n_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 3)
        self.act = act

    def __call__(self, x):
        h = self.act(self.l1(x))
        h = self.act(self.l2(h))
        return self.out(h)


def evaluate(model, X, Y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, Y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == Y)
    mx.eval(ce, acc)
    ce_bits = ce.item() / math.log(2)
    return ce_bits, acc.item() * 100, prior_bits - ce_bits


def row(*cells):
    print(" & ".join(str(c) for c in cells) + r" \\")


BATCH = 100
STEPS_PER_EPOCH = len(y_tr) // BATCH
T = 2.0
ALPHA = 0.5


def fit(tag, model, X, opt, epochs, loss_fn, soft=None):
    def step_loss(xb, yb, sb):
        return loss_fn(model, xb, yb, sb)

    lg = nn.value_and_grad(model, step_loss)
    X_eval = Xfl_va if tag == "teacher" else Xf_va
    ce_bits, acc, gain = evaluate(model, X_eval, Y_va)
    row(tag, 0, "--", "--", f"{ce_bits:.3f}", f"{acc:.1f}", f"{gain:+.3f}")
    first_move = None
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(len(y_tr)).astype(np.int32))
        tot = 0.0
        for i in range(STEPS_PER_EPOCH):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            sb = soft[idx] if soft is not None else None
            before = None
            if first_move is None:
                before = [mx.array(v) for _, v in tree_flatten(model.parameters())]
            loss, grads = lg(X[idx], Y_tr[idx], sb)
            lr_used = opt.learning_rate.item()
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            if before is not None:
                after = [v for _, v in tree_flatten(model.parameters())]
                first_move = max(mx.max(mx.abs(a - b)).item() for a, b in zip(after, before))
                print(f"% {tag}: first update used lr {lr_used:.1e}, "
                      f"largest weight change {first_move:.1e}")
            tot += loss.item()
        ce_bits, acc, gain = evaluate(model, X_eval, Y_va)
        if ep in (1, 2, 4) or ep % 4 == 0 or ep == epochs:
            row(tag, ep, f"{lr_used:.1e}", f"{tot / STEPS_PER_EPOCH:.4f}",
                f"{ce_bits:.3f}", f"{acc:.1f}", f"{gain:+.3f}")
    return model


def ce_loss(model, xb, yb, sb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def lupi_loss(model, xb, yb, sb):
    logits = model(xb)
    hard = nn.losses.cross_entropy(logits, yb, reduction="mean")
    log_q = logits / T - mx.logsumexp(logits / T, axis=1, keepdims=True)
    log_p = sb - mx.logsumexp(sb, axis=1, keepdims=True)
    kl = mx.mean(mx.sum(mx.exp(log_p) * (log_p - log_q), axis=1))
    return (1 - ALPHA) * hard + ALPHA * T * T * kl


def schedule(peak, epochs, warm=60):
    total = epochs * STEPS_PER_EPOCH
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, total - warm, peak * 0.05)], [warm])


t0 = time.time()
print("% hazelnut kernel grading -- field readings only at the packing station")
print(f"% lots: {len(y_tr)} train / {len(y_va)} valid; grade shares "
      + ", ".join(f"{g} {p * 100:.1f}%" for g, p in zip(GRADES, prior)))
print(f"% prior entropy {prior_bits:.3f} bits; majority-grade accuracy {majority_acc:.1f}%")
print(f"% gain = prior entropy - valid cross-entropy (bits); above 0 means better than the grade shares")
print(r"\begin{tabular}{lrrrrrr}")
row("model", "epoch", "lr", "objective (nats)", "valid CE (bits)", r"valid acc (\%)", "gain (bits)")
print(r"\hline")

mx.random.seed(1)
teacher = Grader(7, 64, nn.silu)
fit("teacher", teacher, Xfl_tr, optim.Adamax(learning_rate=schedule(4e-3, 12)), 12, ce_loss)
teacher.eval()
teacher.freeze()
soft_tr = mx.stop_gradient(teacher(Xfl_tr) / T)
mx.eval(soft_tr)
teacher_snapshot = [mx.array(v) for _, v in tree_flatten(teacher.parameters())]
print(r"\hline")

mx.random.seed(2)
plain = Grader(5, 32, nn.tanh)
fit("field-hard", plain, Xf_tr, optim.Adamax(learning_rate=schedule(3e-3, 16)), 16, ce_loss)
print(r"\hline")

mx.random.seed(2)
student = Grader(5, 32, nn.tanh)
fit("field-lupi", student, Xf_tr, optim.Adamax(learning_rate=schedule(3e-3, 16)), 16, lupi_loss, soft=soft_tr)
print(r"\end{tabular}")

drift = max(mx.max(mx.abs(a - b)).item() for (_, a), b in
            zip(tree_flatten(teacher.parameters()), teacher_snapshot))
agree = mx.mean(mx.argmax(student(Xf_va), 1) == mx.argmax(teacher(Xfl_va), 1)).item() * 100
res = {k: evaluate(m, X, Y_va) for k, m, X in
       [("teacher", teacher, Xfl_va), ("field-hard", plain, Xf_va), ("field-lupi", student, Xf_va)]}
print(f"% teacher weight drift while distilling: {drift:.1e}")
print(f"% field-lupi agrees with teacher on {agree:.1f}% of valid lots")
for k, (ce_bits, acc, gain) in res.items():
    print(f"% final {k:<10s} valid CE {ce_bits:.3f} bits  acc {acc:.1f}%  gain {gain:+.3f} bits")
print(f"% done in {time.time() - t0:.1f}s")
