"""Glaze-defect triage for a pottery kiln, two models trained in turn.

Step 1: a large teacher net (mlx.nn + Adam) learns the outcome of a firing
        (good / crawling / pinholing / crazing) from the kiln log.
Step 2: the teacher is frozen; a tiny student that has to run on the kiln
        controller is distilled from it. The student is plain functions over a
        dict of float32 master weights; its forward pass runs in bfloat16
        (weights and inputs cast inside the loss), the gradient comes back to
        the float32 masters, and the update is a hand-written momentum SGD.
Losses are reported in bits per firing.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

LN2 = math.log(2)
OUTCOMES = ["good", "crawl", "pinhole", "craze"]
rng = np.random.default_rng(2094)
mx.random.seed(2094)


def kiln_log(n):
    peak = rng.normal(1240, 25, n)            # peak temperature, C
    ramp = rng.gamma(4.0, 30.0, n)            # last-hour ramp, C/h
    hold = rng.uniform(0, 30, n)              # soak minutes
    thick = rng.lognormal(-0.3, 0.35, n)      # glaze thickness, mm
    moist = rng.beta(2, 8, n)                 # bisque moisture share
    cool = rng.normal(150, 40, n)             # cooling rate, C/h
    silica = rng.normal(0.62, 0.05, n)        # silica share of the glaze
    score = np.stack([
        0.8 + 0.02 * hold - 0.6 * np.abs(peak - 1240) / 25,
        2.5 * thick + 4.0 * moist - 2.2,
        0.012 * (ramp - 120) - 0.03 * hold + 0.8 * (peak < 1225),
        0.012 * (cool - 150) - 20 * (silica - 0.62) - 0.2,
    ], 1) + rng.gumbel(0, 0.45, (n, 4))
    y = score.argmax(1)
    x = np.stack([peak, ramp, hold, thick, moist, cool, silica], 1)
    return x.astype(np.float32), y.astype(np.int32)


class Teacher(nn.Module):
    def __init__(self, d_in=7, width=160):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.GELU(),
                                  nn.Linear(width, width), nn.GELU(),
                                  nn.Linear(width, 4))

    def __call__(self, x):
        return self.body(x)


def student_init(d_in=7, width=12, n_out=4):
    k1, k2 = mx.random.split(mx.random.key(7))
    return {
        "w1": mx.random.normal((d_in, width), key=k1) * math.sqrt(2.0 / d_in),
        "b1": mx.zeros((width,)),
        "w2": mx.random.normal((width, n_out), key=k2) * math.sqrt(1.0 / width),
        "b2": mx.zeros((n_out,)),
    }


def student_logits(master, x):
    p = tree_map(lambda a: a.astype(mx.bfloat16), master)      # bf16 compute copy
    h = nn.relu(x.astype(mx.bfloat16) @ p["w1"] + p["b1"])
    return (h @ p["w2"] + p["b2"]).astype(mx.float32)


def distill_loss(master, x, y, soft_t, temp, alpha):
    logits = student_logits(master, x)
    hard = nn.losses.cross_entropy(logits, y, reduction="mean")
    log_q = nn.log_softmax(logits / temp, axis=-1)
    kl = (soft_t * (mx.log(soft_t + 1e-12) - log_q)).sum(-1).mean()
    return alpha * hard + (1 - alpha) * temp * temp * kl, hard


def accuracy(logits, y):
    return float((logits.argmax(-1) == y).astype(mx.float32).mean().item()) * 100


def batches(n, size):
    order = rng.permutation(n)
    for i in range(0, n - size + 1, size):
        yield mx.array(order[i:i + size])


def main():
    xtr, ytr = kiln_log(16000)
    xte, yte = kiln_log(3000)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
    ytr, yte = mx.array(ytr), mx.array(yte)
    share = np.bincount(np.array(ytr), minlength=4) / len(ytr)
    prior_bits = float(-(share * np.log2(share)).sum())
    print("firings:", len(ytr), "train /", len(yte), "test; outcome shares",
          ", ".join(f"{o} {100 * s:.1f}%" for o, s in zip(OUTCOMES, share)))
    print(f"predicting the shares alone costs {prior_bits:.3f} bits/firing")

    # ---- step 1: teacher ----
    teacher = Teacher()
    opt = optim.Adam(learning_rate=1e-3)
    ce = lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean")
    t_step = nn.value_and_grad(teacher, ce)
    t0 = time.perf_counter()
    print("\n[teacher] epoch | train bits | test bits | test acc")
    for epoch in range(1, 9):
        tot, nb = 0.0, 0
        for idx in batches(len(ytr), 128):
            loss, g = t_step(teacher, xtr[idx], ytr[idx])
            opt.update(teacher, g)
            mx.eval(teacher.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        logits = teacher(xte)
        test_bits = ce(teacher, xte, yte).item() / LN2
        print(f"[teacher] {epoch:5d} | {tot / nb / LN2:10.4f} | {test_bits:9.4f} | "
              f"{accuracy(logits, yte):7.2f}%")
    teacher.freeze()
    print(f"[teacher] frozen: {len(tree_flatten(teacher.trainable_parameters()))} trainable leaves "
          f"left, {time.perf_counter() - t0:.1f}s")

    # ---- step 2: student, distilled ----
    temp, alpha, lr, beta = 3.0, 0.3, 0.05, 0.9
    master = student_init()
    velocity = tree_map(mx.zeros_like, master)
    grad_fn = mx.value_and_grad(distill_loss)
    soft_all = mx.softmax(teacher(xtr) / temp, axis=-1)      # teacher is fixed: precompute
    mx.eval(master, velocity, soft_all)
    before = {k: np.array(v) for k, v in tree_flatten(teacher.parameters())}

    (_, _), g0 = grad_fn(master, xtr[:128], ytr[:128], soft_all[:128], temp, alpha)
    dead = [k for k, v in g0.items() if float(mx.abs(v).max().item()) == 0.0]
    print(f"\n[student] {sum(v.size for v in master.values())} weights kept in float32, "
          f"forward in bfloat16; first-step gradient leaves {len(g0)}, all-zero: {dead or 'none'}")
    print(f"[student] untrained test acc {accuracy(student_logits(master, xte), yte):.2f}%")
    print("[student] epoch | objective | train bits (hard) | test bits | test acc | agrees w/ teacher")
    t_logits = teacher(xte)
    for epoch in range(1, 13):
        obj_sum, hard_sum, nb = 0.0, 0.0, 0
        for idx in batches(len(ytr), 128):
            (obj, hard), g = grad_fn(master, xtr[idx], ytr[idx], soft_all[idx], temp, alpha)
            velocity = tree_map(lambda v, gi: beta * v + gi, velocity, g)
            master = tree_map(lambda w, v: w - lr * v, master, velocity)
            mx.eval(master, velocity, obj, hard)
            obj_sum += obj.item(); hard_sum += hard.item(); nb += 1
        s_logits = student_logits(master, xte)
        test_bits = nn.losses.cross_entropy(s_logits, yte, reduction="mean").item() / LN2
        agree = float((s_logits.argmax(-1) == t_logits.argmax(-1)).astype(mx.float32).mean().item())
        print(f"[student] {epoch:5d} | {obj_sum / nb:9.4f} | {hard_sum / nb / LN2:17.4f} | "
              f"{test_bits:9.4f} | {accuracy(s_logits, yte):7.2f}% | {100 * agree:6.2f}%")

    drift = max(float(np.abs(np.array(v) - before[k]).max()) for k, v in tree_flatten(teacher.parameters()))
    print(f"\ndone in {time.perf_counter() - t0:.1f}s; teacher weights changed by at most {drift:.1e} "
          f"during distillation; master dtype {master['w1'].dtype}")


if __name__ == "__main__":
    main()
