"""Tide mill sluice planner: distil three sensor-group teachers into one student.

Each teacher only sees its own group of four readings (tide gauge, mill pond,
wheel pit). Their logits are summed (product of experts) and softened at
T=3; a small student that sees all twelve readings learns that soft target.
The student run is stopped half way, written to disk, and resumed in a fresh
model/optimizer from the files, as on a night-shift restart.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 268
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

GATES = ["hold", "trickle", "half", "full"]
N_TRAIN, N_TEST = 6000, 2000
T = 3.0


def make_split(n):
    x = rng.normal(size=(n, 12)).astype(np.float32)
    tide, pond, wheel = x[:, 0:4], x[:, 4:8], x[:, 8:12]
    s_tide = np.stack([
        -1.2 * tide[:, 0] + 0.4 * tide[:, 1] ** 2,
        0.5 * tide[:, 0] - 0.6 * tide[:, 2],
        0.9 * tide[:, 1] + 0.5 * np.tanh(tide[:, 3]),
        1.1 * tide[:, 0] + 0.4 * tide[:, 2] * tide[:, 3],
    ], 1)
    s_pond = np.stack([
        -1.0 * pond[:, 0] - 0.3 * pond[:, 3],
        0.7 * np.sin(pond[:, 1]),
        0.6 * pond[:, 2] - 0.4 * pond[:, 0] * pond[:, 1],
        1.0 * pond[:, 0] + 0.3 * pond[:, 3] ** 2,
    ], 1)
    s_wheel = np.stack([
        0.8 * wheel[:, 3],
        -0.6 * wheel[:, 0] + 0.3 * wheel[:, 1],
        0.5 * np.abs(wheel[:, 2]) - 0.2,
        -0.8 * wheel[:, 3] + 0.4 * wheel[:, 0],
    ], 1)
    score = s_tide + s_pond + s_wheel
    y = np.argmax(score + rng.gumbel(size=score.shape) * 0.6, axis=1)
    return x, y.astype(np.int32)


xtr_np, ytr_np = make_split(N_TRAIN)
xte_np, yte_np = make_split(N_TEST)
mu, sd = xtr_np.mean(0), xtr_np.std(0)
xtr = mx.array((xtr_np - mu) / sd)
xte = mx.array((xte_np - mu) / sd)
ytr, yte = mx.array(ytr_np), mx.array(yte_np)
VIEWS = {"tide": slice(0, 4), "pond": slice(4, 8), "wheel": slice(8, 12)}


class MLP(nn.Module):
    def __init__(self, d_in, width, d_out):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, d_out)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def accuracy(logits, y):
    return mx.mean(mx.argmax(logits, axis=1) == y).item()


def batches(n, bs):
    perm = np.random.default_rng(int(rng.integers(1 << 30))).permutation(n)
    for i in range(0, n, bs):
        yield mx.array(perm[i:i + bs])


t0 = time.time()
print(f"tidemill sluice planner | train {N_TRAIN} test {N_TEST} | classes {GATES}")
counts = np.bincount(ytr_np, minlength=4)
print("train class shares:", " ".join(f"{g}={c / N_TRAIN:.2f}" for g, c in zip(GATES, counts)))
majority = max(counts) / N_TRAIN
print(f"majority-class baseline acc {majority:.3f}")

# ---- stage 1: one teacher per sensor group, fitted quietly -----------------
teachers = {}
for name, sl in VIEWS.items():
    t = MLP(4, 64, 4)
    opt = optim.Adam(learning_rate=2e-3)

    def t_loss(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(t, t_loss)
    for ep in range(10):
        for idx in batches(N_TRAIN, 128):
            loss, g = step(t, xtr[idx][:, sl], ytr[idx])
            opt.update(t, g)
            mx.eval(t.parameters(), opt.state)
    t.freeze()
    teachers[name] = t
    print(f"teacher[{name}] test acc {accuracy(t(xte[:, sl]), yte):.3f} (sees 4 of 12 readings)")


def poe_logits(x):
    return sum(teachers[n](x[:, sl]) for n, sl in VIEWS.items())


poe_te = poe_logits(xte)
print(f"product-of-experts test acc {accuracy(poe_te, yte):.3f}")
snap = {n: [v.sum().item() for _, v in tree_flatten(t.parameters())] for n, t in teachers.items()}

# ---- stage 2: student learns the softened product of experts ---------------
BS, EPOCHS, HALT_AT = 100, 12, 6
steps_per_epoch = N_TRAIN // BS
total = EPOCHS * steps_per_epoch
WARM = 40
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, WARM),
     optim.cosine_decay(3e-3, total - WARM, 1e-4)],
    [WARM],
)


def soft_ce(student, xb, target_p):
    logp = nn.log_softmax(student(xb) / T, axis=-1)
    return -(target_p * logp).sum(axis=-1).mean() * T * T


def new_run():
    s = MLP(12, 32, 4)
    o = optim.Adam(learning_rate=schedule)
    return s, o


def run_epochs(student, opt, first_ep, last_ep):
    step = nn.value_and_grad(student, soft_ce)
    for ep in range(first_ep, last_ep):
        tot, nb = 0.0, 0
        for idx in batches(N_TRAIN, BS):
            xb = xtr[idx]
            target_p = mx.softmax(poe_logits(xb) / T, axis=-1)
            loss, g = step(student, xb, target_p)
            opt.update(student, g)
            mx.eval(student.parameters(), opt.state)
            tot += loss.item()
            nb += 1
            if ep == 0 and nb in (1, 2, WARM):
                print(f"  step {nb:3d} lr {opt.learning_rate.item():.3e} soft-ce {loss.item():.4f}")
        s_te = student(xte)
        agree = mx.mean(mx.argmax(s_te, 1) == mx.argmax(poe_te, 1)).item()
        tp = mx.softmax(poe_te / T, axis=-1)
        ent = (-(tp * mx.log(tp + 1e-12)).sum(-1).mean() * T * T).item()
        print(f"epoch {ep + 1:2d} | soft-ce {tot / nb:.4f} (target entropy {ent:.4f}) "
              f"| test acc {accuracy(s_te, yte):.3f} | agree w/ experts {agree:.3f} "
              f"| lr {opt.learning_rate.item():.2e}")


student, opt = new_run()
print(f"student 12-32-4: {sum(v.size for _, v in tree_flatten(student.parameters()))} params, "
      f"warmup {WARM} steps from lr 0, cosine to 1e-4 over {total} steps")
run_epochs(student, opt, 0, HALT_AT)

ckdir = tempfile.mkdtemp("_tidemill")
mx.save_safetensors(os.path.join(ckdir, "student.safetensors"), dict(tree_flatten(student.parameters())))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved_step = opt.state["step"].item()
print(f"-- shift change: saved student + optimizer at step {saved_step} to {os.path.basename(ckdir)}")
del student, opt

student, opt = new_run()
student.load_weights(os.path.join(ckdir, "student.safetensors"))
opt.init(student.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(student.parameters(), opt.state)
print(f"-- resumed: optimizer step {opt.state['step'].item()}, lr {opt.learning_rate.item():.2e}")
run_epochs(student, opt, HALT_AT, EPOCHS)
shutil.rmtree(ckdir)

drift = max(abs(a - b) for n, t in teachers.items()
            for a, b in zip(snap[n], [v.sum().item() for _, v in tree_flatten(t.parameters())]))
final = accuracy(student(xte), yte)
print(f"teacher drift during distillation {drift:.1e}")
print(f"final: student acc {final:.3f} vs product-of-experts {accuracy(poe_te, yte):.3f} "
      f"vs majority {majority:.3f} | {time.time() - t0:.1f}s")
