"""Cheese-cave grading: distil a big grader into a tiny one for the cave's microcontroller.

Stage 1 trains a wide teacher MLP on synthetic ripening readings. Stage 2 freezes the
teacher and trains a 16-unit student with Hinton knowledge distillation (soft targets at
temperature T plus the hard-label cross-entropy), using a hand-written momentum SGD.
Everything is reported as TOML so the run log can be parsed back by the cave's tooling.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

GRADES = ["young", "mild", "mature", "extra_mature", "vintage"]
FEATURES = ["ph", "moisture", "salt", "age_weeks", "cave_temp", "humidity", "rind_mm", "crystals"]


def make_wheels(n, rng):
    ph = rng.normal(5.2, 0.15, n)
    moisture = rng.normal(38.0, 3.0, n)
    salt = rng.normal(1.8, 0.25, n)
    age = rng.uniform(4, 110, n)
    temp = rng.normal(11.0, 1.2, n)
    hum = rng.normal(88.0, 4.0, n)
    rind = 0.8 + 0.02 * age + rng.normal(0, 0.3, n)
    crystals = np.clip(0.015 * (age - 30) + 0.3 * (ph - 5.2) + rng.normal(0, 0.25, n), 0, None)
    X = np.stack([ph, moisture, salt, age, temp, hum, rind, crystals], 1).astype(np.float32)
    # made-up ripeness score -> grade, with Gumbel noise so the classes overlap
    score = (0.045 * age - 0.12 * (moisture - 38) + 0.8 * crystals
             + 0.35 * (temp - 11) * (age / 60) - 0.5 * (salt - 1.8) + 0.15 * np.sin(hum / 3.0))
    logits = -np.abs(score[:, None] - np.array([0.4, 1.5, 2.6, 3.75, 5.0])[None, :]) * 2.2
    logits = logits + rng.gumbel(size=logits.shape) * 0.8
    y = logits.argmax(1).astype(np.int32)
    return X, y


class Grader(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        dims = [len(FEATURES)] + [width] * depth
        self.hidden = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(width, len(GRADES))

    def __call__(self, x):
        for layer in self.hidden:
            x = nn.relu(layer(x))
        return self.out(x)


def toml_block(table, fields):
    print(f"[[{table}]]")
    for k, v in fields.items():
        if isinstance(v, str):
            print(f'{k} = "{v}"')
        elif isinstance(v, float):
            print(f"{k} = {v:.6g}")
        else:
            print(f"{k} = {v}")
    print()


def batches(n, bs, rng):
    order = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(order[i:i + bs])


def accuracy(model, X, y):
    pred = mx.argmax(model(X), axis=1)
    return float(mx.mean(pred == y).item()) * 100.0


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    Xtr, ytr = make_wheels(12000, rng)
    Xte, yte = make_wheels(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr = mx.array((Xtr - mu) / sd)
    Xte = mx.array((Xte - mu) / sd)
    ytr, yte = mx.array(ytr), mx.array(yte)
    counts = np.bincount(np.array(ytr), minlength=5)

    print("# cheese cave grader distillation log")
    print("[data]")
    print(f"train_wheels = {Xtr.shape[0]}")
    print(f"test_wheels = {Xte.shape[0]}")
    print(f"grade_share_pct = [{', '.join(f'{100 * c / counts.sum():.1f}' for c in counts)}]")
    print()

    # ---------------- stage 1: teacher -----------------
    teacher = Grader(128, 2)
    mx.eval(teacher.parameters())
    t_opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)

    def t_loss(model, xb, yb):
        return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

    t_step = nn.value_and_grad(teacher, t_loss)
    tic = time.perf_counter()
    for epoch in range(1, 7):
        run, nb = 0.0, 0
        for idx in batches(Xtr.shape[0], 128, rng):
            loss, grads = t_step(teacher, Xtr[idx], ytr[idx])
            t_opt.update(teacher, grads)
            mx.eval(loss, teacher.parameters(), t_opt.state)
            run += loss.item()
            nb += 1
        toml_block("teacher.epoch", {
            "epoch": epoch,
            "train_ce": run / nb,
            "test_acc_pct": accuracy(teacher, Xte, yte),
            "secs": time.perf_counter() - tic,
        })

    teacher.freeze()
    teacher_snapshot = [(k, np.array(v)) for k, v in tree_flatten(teacher.parameters())]
    teacher_acc = accuracy(teacher, Xte, yte)

    # ---------------- stage 2: student distillation -----------------
    T, alpha = 4.0, 0.7
    student = Grader(16, 1)
    mx.eval(student.parameters())
    lr, mom = 0.05, 0.9
    velocity = tree_map(lambda p: mx.zeros_like(p), student.trainable_parameters())

    def kd_loss(model, xb, yb, t_logits):
        s_logits = model(xb)
        log_p_s = nn.log_softmax(s_logits / T, axis=1)
        log_p_t = nn.log_softmax(t_logits / T, axis=1)
        kl = mx.sum(mx.exp(log_p_t) * (log_p_t - log_p_s), axis=1).mean()
        ce = nn.losses.cross_entropy(s_logits, yb, reduction="mean")
        return alpha * T * T * kl + (1 - alpha) * ce, (kl, ce)

    kd_step = nn.value_and_grad(student, kd_loss)

    def agreement(model):
        a = mx.argmax(model(Xte), axis=1)
        b = mx.argmax(teacher(Xte), axis=1)
        return float(mx.mean(a == b).item()) * 100.0

    toml_block("student.epoch", {
        "epoch": 0,
        "test_acc_pct": accuracy(student, Xte, yte),
        "agree_with_teacher_pct": agreement(student),
        "note": "untrained",
    })

    first = True
    tic = time.perf_counter()
    for epoch in range(1, 11):
        tot = kls = ces = 0.0
        nb = 0
        for idx in batches(Xtr.shape[0], 64, rng):
            xb = Xtr[idx]
            t_logits = mx.stop_gradient(teacher(xb))
            (loss, (kl, ce)), grads = kd_step(student, xb, ytr[idx], t_logits)
            if first:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
                toml_block("grad_check", {"leaves": len(flat), "zero_leaves": len(dead)})
                if dead:
                    raise SystemExit(f"zero gradient on {dead}")
                first = False
            velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
            new_params = tree_map(lambda p, v: p - lr * v, student.trainable_parameters(), velocity)
            student.update(new_params)
            mx.eval(loss, kl, ce, student.parameters(), velocity)
            tot += loss.item()
            kls += kl.item()
            ces += ce.item()
            nb += 1
        if epoch in (1, 2) or epoch % 2 == 0:
            toml_block("student.epoch", {
                "epoch": epoch,
                "kd_objective": tot / nb,
                "soft_kl_T4": kls / nb,
                "hard_ce": ces / nb,
                "test_acc_pct": accuracy(student, Xte, yte),
                "agree_with_teacher_pct": agreement(student),
                "secs": time.perf_counter() - tic,
            })

    drift = max(float(np.abs(np.array(v) - s).max())
                for (_, v), (_, s) in zip(tree_flatten(teacher.parameters()), teacher_snapshot))
    n_t = sum(v.size for _, v in tree_flatten(teacher.parameters()))
    n_s = sum(v.size for _, v in tree_flatten(student.parameters()))
    toml_block("done", {
        "teacher_params": n_t,
        "student_params": n_s,
        "teacher_test_acc_pct": teacher_acc,
        "student_test_acc_pct": accuracy(student, Xte, yte),
        "teacher_drift": drift,
    })


if __name__ == "__main__":
    main()
