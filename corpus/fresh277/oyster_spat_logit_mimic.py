"""Oyster hatchery: grade larval batches (5 grades) from 9 tank readings.

A wide grader network is fitted first on the hatchery log, then a small
grader that can run on the tank-side controller is trained to copy the
wide grader's raw scores (mean-centred logits, squared error), with a
learning-rate ramp that starts at exactly zero.  Half way through the
small grader is saved to disk and training carries on from the saved file
in a fresh process-like setup (new model object, new optimizer).
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

SEED = 11
N_TRAIN, N_TEST = 6000, 2000
N_FEAT, N_GRADE = 9, 5

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---------------------------------------------------------------- data
# readings: temperature, salinity, pH, dissolved O2, algae density, stocking
# density, days since spawn, shell-length mean, shell-length spread (standardised)
W1 = rng.normal(0, 1.0, (N_FEAT, 24))
W2 = rng.normal(0, 1.0, (24, N_GRADE))


def make_split(n):
    x = rng.normal(0, 1, (n, N_FEAT)).astype(np.float32)
    score = np.tanh(x @ W1) @ W2
    g = rng.gumbel(0, 0.6, score.shape)
    y = np.argmax(score + g, axis=1).astype(np.int32)
    return mx.array(x), mx.array(y)


x_tr, y_tr = make_split(N_TRAIN)
x_te, y_te = make_split(N_TEST)
counts = np.bincount(np.array(y_tr), minlength=N_GRADE)
print("grade shares (train):", " ".join(f"{c / N_TRAIN:.2f}" for c in counts))
majority = float(np.max(np.bincount(np.array(y_te), minlength=N_GRADE))) / N_TEST


class Grader(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        dims = [N_FEAT] + [width] * depth
        self.hidden = [nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:])]
        self.out = nn.Linear(width, N_GRADE)

    def __call__(self, x):
        for lin in self.hidden:
            x = nn.silu(lin(x))
        return self.out(x)


def accuracy(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def batches(n, bs):
    perm = np.random.default_rng(int(rng.integers(1 << 30))).permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(perm[i:i + bs])


def fit_on_labels(model, epochs, lr, bs=128):
    opt = optim.AdamW(learning_rate=lr, weight_decay=1e-4)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    for _ in range(epochs):
        for idx in batches(N_TRAIN, bs):
            loss, grads = step(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
    return model


# ---------------------------------------------------------------- stage A: wide grader (quiet)
t0 = time.time()
wide = Grader(128, 2)
fit_on_labels(wide, epochs=12, lr=2e-3)
wide.freeze()
wide_acc = accuracy(wide, x_te, y_te)
print(f"wide grader fitted in {time.time() - t0:.1f}s  test acc {wide_acc:.3f}")
wide_snapshot = {k: np.array(v) for k, v in tree_flatten(wide.parameters())}

# ---------------------------------------------------------------- baseline: small grader on labels
base = Grader(16, 1)
fit_on_labels(base, epochs=12, lr=3e-3)
base_acc = accuracy(base, x_te, y_te)
print(f"small grader on hard labels: test acc {base_acc:.3f}  (majority {majority:.3f})")

# ---------------------------------------------------------------- stage B: small grader copies wide scores
def centred(z):
    return z - mx.mean(z, axis=1, keepdims=True)


wide_tr = centred(wide(x_tr))
wide_te = centred(wide(x_te))
mx.eval(wide_tr, wide_te)

BS = 128
STEPS_PER_EPOCH = N_TRAIN // BS
EPOCHS = 24
TOTAL = EPOCHS * STEPS_PER_EPOCH
WARM = 60
PEAK = 4e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM),
     optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)],
    [WARM],
)


def mimic_loss(m, xb, tb):
    return mx.mean(mx.sum((centred(m(xb)) - tb) ** 2, axis=1))


def run_epochs(model, opt, first, last):
    step = nn.value_and_grad(model, mimic_loss)
    for ep in range(first, last):
        tot, nb = 0.0, 0
        for idx in batches(N_TRAIN, BS):
            loss, grads = step(model, x_tr[idx], wide_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        te_mse = mimic_loss(model, x_te, wide_te).item()
        agree = float(mx.mean(mx.argmax(model(x_te), 1) == mx.argmax(wide_te, 1)))
        acc = accuracy(model, x_te, y_te)
        print(f"epoch {ep + 1:2d}  lr {opt.learning_rate.item():.2e}  score-mse train {tot / nb:7.3f}"
              f"  test {te_mse:7.3f}  agree-with-wide {agree:.3f}  test acc {acc:.3f}")


small = Grader(16, 1)
opt = optim.Adam(learning_rate=schedule)
before = {k: np.array(v) for k, v in tree_flatten(small.parameters())}

# the very first update happens with a learning rate of exactly 0
step0 = nn.value_and_grad(small, mimic_loss)
idx0 = mx.arange(BS)
l0, g0 = step0(small, x_tr[idx0], wide_tr[idx0])
opt.update(small, g0)
mx.eval(small.parameters(), opt.state)
moved = max(float(np.max(np.abs(np.array(v) - before[k]))) for k, v in tree_flatten(small.parameters()))
print(f"warm-up step 0: lr {schedule(mx.array(0)).item():.1f}, largest weight change {moved:.1e}, score-mse {l0.item():.3f}")

HALF = EPOCHS // 2
# step 0 already consumed one scheduled step; the epochs below continue the ramp
run_epochs(small, opt, 0, HALF)

ckdir = tempfile.mkdtemp("", "spat_grader_")
mx.save_safetensors(os.path.join(ckdir, "small.safetensors"), dict(tree_flatten(small.parameters())))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"saved small grader + optimizer state after epoch {HALF} to {ckdir}")

# resume: fresh model object and fresh optimizer, state read back from disk
small2 = Grader(16, 1)
small2.load_weights(os.path.join(ckdir, "small.safetensors"))
opt2 = optim.Adam(learning_rate=schedule)
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
mx.eval(small2.parameters())
print(f"resumed at step {int(opt2.state['step'])}: test acc {accuracy(small2, x_te, y_te):.3f}"
      f"  score-mse {mimic_loss(small2, x_te, wide_te).item():.3f}")
run_epochs(small2, opt2, HALF, EPOCHS)

drift = max(float(np.max(np.abs(np.array(v) - wide_snapshot[k]))) for k, v in tree_flatten(wide.parameters()))
final_acc = accuracy(small2, x_te, y_te)
print(f"wide grader weight drift during copying: {drift:.1e}")
print(f"final: small copy {final_acc:.3f} | small on labels {base_acc:.3f} | wide {wide_acc:.3f} | majority {majority:.3f}")
print(f"params: wide {sum(v.size for _, v in tree_flatten(wide.parameters()))}, "
      f"small {sum(v.size for _, v in tree_flatten(small2.parameters()))}")
shutil.rmtree(ckdir, ignore_errors=True)
print(f"done in {time.time() - t0:.1f}s")
