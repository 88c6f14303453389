"""Birdsong syllable classifier trained with a mastery-gated class curriculum.

Syllable types are unlocked a few at a time; the next group joins the
training pool once the held-out accuracy on the unlocked types reaches the
mastery level (or the stage step budget runs out).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_TYPES = 10
N_FEAT = 24          # 12 pitch-band energies + 12 timing/shape descriptors
UNLOCK = [3, 6, 10]  # syllable types in play per stage
MASTERY = 0.90
MAX_STEPS_PER_STAGE = 900
CHECK_EVERY = 50
BATCH = 64

rng = np.random.default_rng(7)
prototypes = rng.normal(0, 1.0, size=(N_TYPES, N_FEAT)).astype(np.float32)
# later types are near-duplicates of earlier ones (harder to tell apart)
for k in range(6, N_TYPES):
    prototypes[k] = 0.65 * prototypes[k - 6] + 0.35 * prototypes[k]


def sing(types, rng):
    x = prototypes[types] + rng.normal(0, 0.55, size=(len(types), N_FEAT))
    tempo = rng.uniform(0.8, 1.25, size=(len(types), 1))
    x[:, 12:] *= tempo
    return x.astype(np.float32)


val_types = np.repeat(np.arange(N_TYPES), 120)
val_x = mx.array(sing(val_types, np.random.default_rng(99)))
val_y = mx.array(val_types)


class SyllableNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_TYPES)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, label_smoothing=0.1, reduction="mean")


def accuracy(model, n_unlocked):
    pred = mx.argmax(model(val_x), axis=1)
    hit = (pred == val_y).astype(mx.float32)
    in_play = (val_y < n_unlocked).astype(mx.float32)
    acc_play = mx.sum(hit * in_play) / mx.sum(in_play)
    return acc_play.item(), mx.mean(hit).item()


mx.random.seed(0)
model = SyllableNet()
mx.eval(model.parameters())
opt = optim.Muon(learning_rate=0.02, momentum=0.95)
step_fn = nn.value_and_grad(model, loss_fn)

# gradient audit on a first batch
gx = mx.array(sing(rng.integers(0, UNLOCK[0], BATCH), rng))
gy = mx.array(rng.integers(0, UNLOCK[0], BATCH))
_, g0 = step_fn(model, gx, gy)
from mlx.utils import tree_flatten
zero_leaves = [k for k, v in tree_flatten(g0) if mx.all(v == 0).item()]
print(f"grad audit: {len(tree_flatten(g0))} leaves, all-zero leaves: {zero_leaves or 'none'}")
print(f"chance on all {N_TYPES} types: {100.0 / N_TYPES:.1f}%  | label-smoothed CE floor ~0.5 nats")

t0 = time.time()
global_step = 0
for stage, n_unlocked in enumerate(UNLOCK, 1):
    print(f"--- stage {stage}: {n_unlocked} syllable types in play (mastery gate {MASTERY:.0%}) ---")
    window = []
    for s in range(1, MAX_STEPS_PER_STAGE + 1):
        types = rng.integers(0, n_unlocked, BATCH)
        x, y = mx.array(sing(types, rng)), mx.array(types)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        global_step += 1
        window.append(loss.item())
        if s % CHECK_EVERY == 0 or s == 1:
            acc_play, acc_all = accuracy(model, n_unlocked)
            print(f"[{time.time() - t0:6.1f}s] stage {stage} step {s:4d} (total {global_step:4d}) | "
                  f"ce {np.mean(window):.3f} | acc(in play) {100 * acc_play:5.1f}% | "
                  f"acc(all types) {100 * acc_all:5.1f}%")
            window = []
            if s > 1 and acc_play >= MASTERY and n_unlocked < N_TYPES:
                print(f"    mastery reached after {s} steps -> unlocking more types")
                break

acc_play, acc_all = accuracy(model, N_TYPES)
pred = np.array(mx.argmax(model(val_x), axis=1))
per = [100 * np.mean(pred[np.array(val_types) == k] == k) for k in range(N_TYPES)]
print("per-type accuracy %: " + " ".join(f"{p:.0f}" for p in per))
print(f"done: {global_step} updates, final accuracy {100 * acc_all:.1f}% on {N_TYPES} types (chance 10.0%), {time.time() - t0:.1f}s")
