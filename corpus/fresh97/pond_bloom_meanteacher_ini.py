"""Semi-supervised algal-bloom typing for farm ponds (mean teacher).

Only 240 pond samples were sent to the lab; 9000 sonde readings are unlabelled. A student
MLP learns from the labelled ones with cross-entropy and from all of them through a
consistency loss to an exponential-moving-average teacher (the teacher gets no gradient; its
weights follow the student's). The consistency weight ramps up from almost 0 over 600 steps.
The report is written with configparser as INI sections.
"""
import configparser
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

KINDS = ["none", "green_chlorophyte", "cyanobacteria", "diatom"]


def sample_ponds(n, rng):
    # readings: temp, pH, dissolved O2, turbidity, phycocyanin, chlorophyll-a, silica
    kind = rng.integers(0, 4, n)
    centre = np.array([
        [14, 7.4, 9.0, 4, 0.2, 2, 6],
        [21, 8.6, 12.5, 12, 0.6, 25, 5],
        [24, 9.1, 7.0, 18, 6.0, 18, 5],
        [11, 7.9, 11.0, 9, 0.4, 14, 1],
    ], dtype=np.float64)
    spread = np.array([5, 0.7, 2.4, 6, 2.0, 10, 2.2])
    X = centre[kind] + rng.normal(0, 1, (n, 7)) * spread
    X[:, 4] = np.abs(X[:, 4])
    return X.astype(np.float32), kind.astype(np.int32)


class BloomNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, len(KINDS))

    def __call__(self, x):
        return self.head(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def ramp(step, length=600, w_max=1.0):
    t = min(step / length, 1.0)
    return w_max * math.exp(-5.0 * (1.0 - t) ** 2)


def report(section, values):
    cp = configparser.ConfigParser()
    cp[section] = {k: (f"{v:.5f}" if isinstance(v, float) else str(v)) for k, v in values.items()}
    cp.write(sys.stdout)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    X_lab, y_lab = sample_ponds(240, rng)
    X_unl, _ = sample_ponds(9000, rng)
    X_te, y_te = sample_ponds(3000, rng)
    mu = np.concatenate([X_lab, X_unl]).mean(0)
    sd = np.concatenate([X_lab, X_unl]).std(0)
    X_lab, X_unl, X_te = [mx.array((a - mu) / sd) for a in (X_lab, X_unl, X_te)]
    y_lab, y_te = mx.array(y_lab), mx.array(y_te)

    student = BloomNet()
    teacher = BloomNet()
    mx.eval(student.parameters())
    teacher.update(tree_map(lambda p: mx.array(p), student.parameters()))
    teacher.freeze()  # the teacher is never optimised: it is an EMA of the student
    mx.eval(teacher.parameters())
    opt = optim.Adam(learning_rate=1e-3)
    ema_decay = 0.99

    def objective(model, xl, yl, xu_s, xu_t, w):
        ce = nn.losses.cross_entropy(model(xl), yl, reduction="mean")
        p_s = mx.softmax(model(xu_s), axis=1)
        p_t = mx.stop_gradient(mx.softmax(teacher(xu_t), axis=1))
        cons = mx.mean(mx.sum((p_s - p_t) ** 2, axis=1))
        return ce + w * cons, (ce, cons)

    loss_and_grad = nn.value_and_grad(student, objective)

    # one eager gradient evaluation for the audit (no update is applied)
    idx_l = mx.array(rng.integers(0, 240, 32))
    idx_u = mx.array(rng.integers(0, 9000, 128))
    noise = lambda shape: mx.array(rng.normal(0, 0.15, shape).astype(np.float32))
    _, g0 = loss_and_grad(student, X_lab[idx_l] + noise((32, 7)), y_lab[idx_l],
                          X_unl[idx_u] + noise((128, 7)), X_unl[idx_u] + noise((128, 7)),
                          mx.array(ramp(0)))
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
    report("setup", {
        "labelled": 240, "unlabelled": 9000, "test": 3000,
        "student_leaves": len(flat), "zero_grad_leaves": len(zero),
        "teacher_trainable_leaves": len(tree_flatten(teacher.trainable_parameters())),
    })
    if zero:
        raise SystemExit(f"dead leaves: {zero}")

    state = [student.state, opt.state]

    # the teacher's weights change outside the compiled step, so they are an input too
    @partial(mx.compile, inputs=state + [teacher.state], outputs=state)
    def step(xl, yl, xu_s, xu_t, w):
        (loss, (ce, cons)), grads = loss_and_grad(student, xl, yl, xu_s, xu_t, w)
        opt.update(student, grads)
        return loss, ce, cons

    def acc(model):
        return 100.0 * float(mx.mean(mx.argmax(model(X_te), axis=1) == y_te).item())

    tic = time.perf_counter()
    window = []
    for it in range(1, 1801):
        il = mx.array(rng.integers(0, 240, 32))
        iu = mx.array(rng.integers(0, 9000, 128))
        w = ramp(it)
        loss, ce, cons = step(X_lab[il] + noise((32, 7)), y_lab[il],
                              X_unl[iu] + noise((128, 7)), X_unl[iu] + noise((128, 7)),
                              mx.array(w))
        mx.eval(loss, ce, cons, student.state, opt.state)
        new_t = tree_map(lambda t, s: ema_decay * t + (1 - ema_decay) * s,
                         teacher.parameters(), student.parameters())
        teacher.update(new_t)
        mx.eval(teacher.parameters())
        window.append((loss.item(), ce.item(), cons.item()))
        if it % 200 == 0 or it == 1:
            arr = np.array(window)
            report(f"step {it:04d}", {
                "cons_weight": w,
                "objective": float(arr[:, 0].mean()),
                "labelled_ce": float(arr[:, 1].mean()),
                "consistency_mse": float(arr[:, 2].mean()),
                "student_test_acc_pct": acc(student),
                "teacher_test_acc_pct": acc(teacher),
                "secs": time.perf_counter() - tic,
            })
            window = []

    report("done", {"final_teacher_acc_pct": acc(teacher), "final_student_acc_pct": acc(student)})


if __name__ == "__main__":
    main()
