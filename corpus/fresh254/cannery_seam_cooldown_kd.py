"""Cannery seam inspection: a wide teacher classifies double-seam defects from
12 gauge readings; a small student for the line-side controller learns from the
teacher's softened logits while the softening temperature is cooled from 5 to 1.
The printed T^2-scaled KL is measured at the current temperature, so it is not
comparable across epochs; agreement with the teacher is the number to watch."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CLASS = 6
rng = np.random.default_rng(11)
MIX = rng.normal(size=(4, 12))


def make_cans(n):
    z = rng.normal(size=(n, 4))
    x = np.tanh(z @ MIX) + 0.35 * rng.normal(size=(n, 12))
    score = np.stack([
        z[:, 0] + 0.5 * z[:, 1] ** 2,
        -z[:, 0] + z[:, 2],
        z[:, 1] * z[:, 3],
        z[:, 2] - z[:, 3] ** 2 + 0.5,
        np.sin(2 * z[:, 0]) + z[:, 3],
        0.3 * np.ones(n),
    ], axis=1)
    p = np.exp(2.0 * score)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(N_CLASS, p=pi) for pi in p])  # labels are sampled: accuracy has a ceiling
    return x.astype(np.float32), y.astype(np.int32)


xtr, ytr = make_cans(6000)
xva, yva = make_cans(1500)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*layers[:-1])


def accuracy(m, x, y):
    return (m(x).argmax(-1) == y).astype(mx.float32).mean().item()


def run_epochs(model, loss_fn, opt, epochs, tag, extra=None, bs=128, seed=0):
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(epochs):
        if extra is not None:
            extra(ep)
        order = np.random.default_rng(seed + ep).permutation(len(xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(order) - bs + 1, bs):
            idx = mx.array(order[i:i + bs])
            loss, g = step(model, Xtr[idx], Ytr[idx], idx)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        yield ep, tot / nb


t0 = time.time()
# ---- teacher ----
mx.random.seed(0)
teacher = mlp([12, 192, 192, 192, N_CLASS])
opt_t = optim.Adam(learning_rate=1.5e-3)
ce = lambda m, x, y, idx: nn.losses.cross_entropy(m(x), y, reduction="mean")
for ep, l in run_epochs(teacher, ce, opt_t, 6, "teacher"):
    print(f"teacher epoch {ep}  ce {l:.4f}  val acc {accuracy(teacher, Xva, Yva):.3f}")
teacher.freeze()
teacher_logits_tr = mx.stop_gradient(teacher(Xtr))
mx.eval(teacher_logits_tr)
t_acc = accuracy(teacher, Xva, Yva)

# ---- baseline: same small student trained on the hard labels ----
mx.random.seed(5)
base = mlp([12, 20, N_CLASS])
opt_b = optim.Adam(learning_rate=3e-3)
for ep, l in run_epochs(base, ce, opt_b, 10, "baseline"):
    pass
b_acc = accuracy(base, Xva, Yva)
print(f"hard-label student baseline: val acc {b_acc:.3f} (ce {l:.4f})")

# ---- distilled student, temperature cooled 5 -> 1 ----
mx.random.seed(5)
student = mlp([12, 20, N_CLASS])
opt_s = optim.Adam(learning_rate=3e-3)
EPOCHS = 10
temps = np.linspace(5.0, 1.0, EPOCHS)
state = {"T": float(temps[0])}


def set_temp(ep):
    state["T"] = float(temps[ep])


def kd(m, x, y, idx):
    T = state["T"]
    t_logp = nn.log_softmax(teacher_logits_tr[idx] / T, axis=-1)
    s_logp = nn.log_softmax(m(x) / T, axis=-1)
    kl = (mx.exp(t_logp) * (t_logp - s_logp)).sum(-1).mean()
    return kl * T * T


print("distillation (no labels used); kl is T^2 * KL(teacher_T || student_T)")
print(" epoch |   T  |  kl(T)  | agree w/ teacher | val acc | teacher | hard-label baseline")
for ep, l in run_epochs(student, kd, opt_s, EPOCHS, "student", extra=set_temp, seed=50):
    agree = (student(Xva).argmax(-1) == teacher(Xva).argmax(-1)).astype(mx.float32).mean().item()
    print(f"  {ep:3d}  | {state['T']:.2f} | {l:7.4f} |      {agree:.3f}       |  {accuracy(student, Xva, Yva):.3f}  |  {t_acc:.3f}  |  {b_acc:.3f}")

print(f"done in {time.time() - t0:.1f}s")
