"""Dressage test: grade each ridden movement (5 grades: insufficient .. very good)
from five gait readings and the arena letter where it is ridden.  The letter
embedding is a fixed random code (frozen on purpose); the hidden layer uses a
softsign gate with a hand-written VJP; SGD-Nesterov under a warm-up-from-zero
plus cosine warm-restart schedule, whole step compiled."""
import math
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TR, N_VA = 4800, 1200
LETTERS = "AKEHCMBF" + "DXGI"


def make(n):
    gait = rng.normal(0, 1, (n, 5)).astype(np.float32)   # cadence, impulsion, straightness, contact, regularity
    let = rng.integers(0, len(LETTERS), n)
    letter_bias = np.linspace(-0.8, 0.8, len(LETTERS))[let]
    s = gait @ np.array([0.9, 1.1, 0.7, 0.8, 0.6]) + 0.5 * gait[:, 1] * gait[:, 3] + letter_bias
    s += rng.normal(0, 0.35, n)
    grade = np.digitize(s, [-1.6, -0.5, 0.5, 1.6])
    return gait, let.astype(np.int32), grade.astype(np.int32)


gtr, ltr, ytr = make(N_TR)
gva, lva, yva = make(N_VA)


@mx.custom_function
def softsign_gate(x):
    return x / (1 + mx.abs(x))


@softsign_gate.vjp
def softsign_gate_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    return (cotangent / mx.square(1 + mx.abs(x)),)


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.letter = nn.Embedding(len(LETTERS), 4)
        self.h1 = nn.Linear(9, 48)
        self.h2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 5)

    def __call__(self, g, l):
        z = mx.concatenate([g, self.letter(l)], axis=-1)
        z = softsign_gate(self.h1(z))
        z = softsign_gate(self.h2(z))
        return self.head(z)


mx.random.seed(3)
model = Judge()
model.letter.freeze()                      # fixed random letter code
frozen_before = np.array(model.letter.weight)

PEAK, WARM, CYCLE = 0.08, 40, 150


def sgdr(step):
    step = mx.array(step, dtype=mx.float32)
    warm = PEAK * step / WARM
    t = mx.remainder(mx.maximum(step - WARM, 0.0), CYCLE)
    cos = 0.5 * PEAK * (1 + mx.cos(math.pi * t / CYCLE))
    return mx.where(step < WARM, warm, cos)


opt = optim.SGD(learning_rate=sgdr, momentum=0.9, nesterov=True)


def loss_fn(m, g, l, y):
    return nn.losses.cross_entropy(m(g, l), y, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(g, l, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, g, l, y)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm


# one uncompiled look at the gradients: every trainable tensor must receive signal
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(gtr[:64]), mx.array(ltr[:64]), mx.array(ytr[:64]))
print("trainable:", ", ".join(f"{k}{tuple(v.shape)}" for k, v in tree_flatten(g0)))
print("zero-grad tensors:", [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0])

BS, EPOCHS = 100, 12
nb = N_TR // BS
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(N_TR)
    run, gn_max = 0.0, 0.0
    for i in range(nb):
        b = perm[i * BS:(i + 1) * BS]
        lr_now = sgdr(opt.state["step"]).item()
        loss, gnorm = train_step(mx.array(gtr[b]), mx.array(ltr[b]), mx.array(ytr[b]))
        mx.eval(state, loss, gnorm)
        run += loss.item()
        gn_max = max(gn_max, gnorm.item())
        if i == 0 and ep == 1:
            print(f"  first update used lr={lr_now:.4f}")
    logits = model(mx.array(gva), mx.array(lva))
    pred = np.array(mx.argmax(logits, axis=-1))
    acc = 100.0 * float(np.mean(pred == yva))
    within1 = 100.0 * float(np.mean(np.abs(pred - yva) <= 1))
    bar = "#" * ep + "-" * (EPOCHS - ep)
    print(f"epoch {ep:2d}/{EPOCHS} |{bar}| {nb}/{nb} [{time.time() - t0:4.1f}s, "
          f"loss={run / nb:.4f}, val_acc={acc:.1f}%, within1={within1:.1f}%, lr={lr_now:.4f}]")
    drift = float(np.abs(np.array(model.letter.weight) - frozen_before).max())
    print(f"  audit: max|grad|norm={gn_max:.3f} letter-code drift={drift:.1e} step={opt.state['step'].item()}")

majority = 100.0 * float(np.mean(yva == np.bincount(ytr).argmax()))
print(f"final: val_acc {acc:.1f}% (majority-grade baseline {majority:.1f}%), within one grade {within1:.1f}%")
