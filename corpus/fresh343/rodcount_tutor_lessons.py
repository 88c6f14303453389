"""Soroban drill with a tutor that picks the lesson.

Four lessons: read the total of 1, 2, 3 or 4 bead counts (digits 0-9) shown on
four rods of an abacus; empty rods are marked with a blank symbol.  The pupil is
a small MLP that names the total (37 classes, 0..36).

The tutor follows the teacher-student idea: it keeps, per lesson, a short
history of the pupil's held-out loss and samples the next lesson with a
Boltzmann distribution over the absolute slope of that history ("learning
progress"), mixed with a little uniform exploration.  Lessons the pupil is
currently improving on get picked the most; lessons that are mastered (or not
moving yet) get picked less.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

RODS = 4
SYMBOLS = 11          # digits 0-9 plus the blank rod
CLASSES = 9 * RODS + 1
LESSONS = [1, 2, 3, 4]
STEPS = 1200
BATCH = 64
REPORT = 100
PROBE_EVERY = 25      # tutor re-measures every lesson this often
WINDOW = 6            # probes kept per lesson for the slope
TAU = 0.02            # Boltzmann temperature on |slope|
EXPLORE = 0.10

rng = np.random.default_rng(343)
mx.random.seed(343)


def make_batch(k, n, gen):
    digits = gen.integers(0, 10, size=(n, RODS))
    digits[:, k:] = 10                     # blank rods
    onehot = np.zeros((n, RODS * SYMBOLS), dtype=np.float32)
    for r in range(RODS):
        onehot[np.arange(n), r * SYMBOLS + digits[:, r]] = 1.0
    total = np.where(digits < 10, digits, 0).sum(axis=1)
    return mx.array(onehot), mx.array(total.astype(np.int32))


class Pupil(nn.Module):
    def __init__(self, hidden=192):
        super().__init__()
        self.inp = nn.Linear(RODS * SYMBOLS, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, CLASSES)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


held = {k: make_batch(k, 600, np.random.default_rng(1000 + k)) for k in LESSONS}


def probe(model):
    out = {}
    for k in LESSONS:
        x, y = held[k]
        logits = model(x)
        ce = nn.losses.cross_entropy(logits, y, reduction="mean")
        acc = mx.mean(mx.argmax(logits, axis=1) == y)
        mx.eval(ce, acc)
        out[k] = (ce.item(), acc.item())
    return out


def slope(hist):
    if len(hist) < 2:
        return 1.0                          # unseen lessons look promising
    t = np.arange(len(hist), dtype=np.float64)
    return float(np.polyfit(t, np.asarray(hist), 1)[0])


def tutor_probs(histories):
    lp = np.array([abs(slope(histories[k])) for k in LESSONS])
    z = (lp - lp.max()) / TAU
    boltz = np.exp(z) / np.exp(z).sum()
    return (1 - EXPLORE) * boltz + EXPLORE / len(LESSONS), lp


BARS = " .:-=+*#%@"


def bar(shares):
    return "".join(BARS[min(9, int(s * 10))] for s in shares)


model = Pupil()
mx.eval(model.parameters())
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 80), optim.cosine_decay(2e-3, STEPS - 80, 1e-4)],
    [80],
)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

chance = {k: math.log(9 * k + 1) for k in LESSONS}
print("soroban tutor | lessons = totals of 1..4 rods | pupil params",
      sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.parameters())))
print("uniform-guess CE per lesson:", "  ".join(f"L{k}={chance[k]:.3f}" for k in LESSONS))

x0, y0 = make_batch(2, BATCH, rng)
_, g0 = vg(model, x0, y0)
leaves = __import__("mlx.utils").utils.tree_flatten(g0)
zero = [n for n, g in leaves if float(mx.abs(g).max().item()) == 0.0]
print(f"gradient check: {len(leaves)} leaves, {len(zero)} all-zero")

histories = {k: [] for k in LESSONS}
first = probe(model)
for k in LESSONS:
    histories[k].append(first[k][0])
print("before drill:", "  ".join(f"L{k} ce {first[k][0]:.3f} acc {100*first[k][1]:5.1f}%"
                                  for k in LESSONS))

picks = np.zeros(len(LESSONS), dtype=np.int64)
win_loss = []
t0 = time.perf_counter()
probs, lp = tutor_probs(histories)
for step in range(1, STEPS + 1):
    k = int(rng.choice(LESSONS, p=probs))
    picks[k - 1] += 1
    x, y = make_batch(k, BATCH, rng)
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    win_loss.append(loss.item())

    if step % PROBE_EVERY == 0:
        m = probe(model)
        for j in LESSONS:
            histories[j].append(m[j][0])
            histories[j] = histories[j][-WINDOW:]
        probs, lp = tutor_probs(histories)

    if step % REPORT == 0:
        shares = picks / picks.sum()
        accs = "  ".join(f"{100*m[j][1]:5.1f}" for j in LESSONS)
        print(f"step {step:5d} lr {opt.learning_rate.item():.2e} | picked-batch ce "
              f"{np.mean(win_loss):.3f} | picks [{bar(shares)}] "
              + " ".join(f"{s:.2f}" for s in shares)
              + f" | tutor p " + " ".join(f"{p:.2f}" for p in probs)
              + f" | held acc% {accs} | {time.perf_counter()-t0:.1f}s")
        picks[:] = 0
        win_loss = []

final = probe(model)
print("-" * 60)
print(f"{'lesson':>6} {'rods':>4} {'held CE':>8} {'uniform':>8} {'acc %':>7} {'chance %':>9}")
for k in LESSONS:
    print(f"{'L'+str(k):>6} {k:>4} {final[k][0]:8.3f} {chance[k]:8.3f} "
          f"{100*final[k][1]:7.1f} {100/(9*k+1):9.2f}")
print(f"done: {STEPS} updates in {time.perf_counter()-t0:.1f}s")
