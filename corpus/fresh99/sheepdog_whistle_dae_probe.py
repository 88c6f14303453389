"""Sheepdog whistle commands: denoising pre-training on unlabelled field
recordings, then a linear probe on the frozen encoder, then a gentle
end-to-end fine-tune.

Each whistle is a 40-point pitch contour (kHz, log-ish scale). Only 50
labelled whistles per command exist; 8000 unlabelled ones were recorded.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

COMMANDS = ["walk up", "come bye", "away", "stand", "lie down", "that'll do"]
T = 40
rng = np.random.default_rng(11)
mx.random.seed(11)


def contour(cmd, n):
    t = np.linspace(0.0, 1.0, T)[None, :]
    stretch = rng.uniform(0.8, 1.2, (n, 1))
    u = np.clip(t * stretch, 0.0, 1.0)
    base = rng.uniform(-0.3, 0.3, (n, 1))
    if cmd == 0:
        f = 1.6 + 1.0 * u
    elif cmd == 1:
        f = np.where(u < 0.5, 1.6 + 1.4 * u, 1.6 + 1.4 * (u - 0.5))
    elif cmd == 2:
        f = 2.6 - 1.0 * u
    elif cmd == 3:
        f = 2.2 + 0.0 * u
    elif cmd == 4:
        f = np.where(u < 0.4, 2.6 - 2.0 * u, 1.8 + 0.0 * u)
    else:
        f = 1.7 + 1.6 * u * (1.0 - u) * 2.0
    f = f + base + rng.normal(0, 0.08, (n, T))
    breaks = rng.random((n, T)) < 0.08          # whistle breaks: no pitch
    f = np.where(breaks, 0.0, f)
    return f.astype(np.float32)


def make(n_per):
    xs, ys = [], []
    for c in range(len(COMMANDS)):
        xs.append(contour(c, n_per))
        ys.append(np.full(n_per, c, np.int32))
    x, y = np.concatenate(xs), np.concatenate(ys)
    p = rng.permutation(len(y))
    return x[p], y[p]


x_unl, _ = make(1334)            # labels thrown away
x_lab, y_lab = make(50)
x_test, y_test = make(200)
MU, SD = x_unl.mean(), x_unl.std()
norm = lambda a: mx.array((a - MU) / SD)
X_unl, X_lab, X_test = norm(x_unl), norm(x_lab), norm(x_test)
Y_lab, Y_test = mx.array(y_lab), mx.array(y_test)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(T, 64)
        self.l2 = nn.Linear(64, 16)

    def __call__(self, x):
        return self.l2(nn.gelu(self.l1(x)))


class DAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.d1 = nn.Linear(16, 64)
        self.d2 = nn.Linear(64, T)

    def __call__(self, x):
        return self.d2(nn.gelu(self.d1(self.enc(x))))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.head = nn.Linear(16, len(COMMANDS))

    def __call__(self, x):
        return self.head(self.enc(x))


def audit(grads, label):
    leaves = tree_flatten(grads)
    dead = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    print(f"   first-step gradients [{label}]: {len(leaves)} trainable leaves, "
          f"{len(dead)} all-zero{(' -> ' + ', '.join(dead)) if dead else ''}")
    if dead:
        raise SystemExit("dead gradient leaf")


def accuracy(model, X, Y):
    return 100.0 * float(mx.mean(mx.argmax(model(X), axis=1) == Y))


t0 = time.time()
print(f"whistles: {X_unl.shape[0]} unlabelled, {X_lab.shape[0]} labelled "
      f"({X_lab.shape[0] // len(COMMANDS)} per command), {X_test.shape[0]} test")

# ---------------------------------------------------------------- stage 1
print("\nstage 1 - denoising auto-encoder on the unlabelled whistles (Adam 2e-3)")
dae = DAE()
mx.eval(dae.parameters())
opt1 = optim.Adam(learning_rate=2e-3)


def dae_loss(model, x_noisy, x_clean):
    return nn.losses.mse_loss(model(x_noisy), x_clean)


dae_vg = nn.value_and_grad(dae, dae_loss)
N = X_unl.shape[0]
hist = []
for step in range(1, 801):
    idx = mx.array(rng.integers(0, N, 128))
    xc = X_unl[idx]
    keep = mx.array(rng.random((128, T)) > 0.25, dtype=mx.float32)
    xn = xc * keep + (1 - keep) * mx.array((0.0 - MU) / SD)   # drop 25% like breaks
    loss, g = dae_vg(dae, xn, xc)
    if step == 1:
        audit(g, "encoder + decoder")
    opt1.update(dae, g)
    mx.eval(dae.parameters(), opt1.state, loss)
    hist.append(loss.item())
    if step % 200 == 0:
        test_mse = nn.losses.mse_loss(dae(X_test), X_test).item()
        print(f"   step {step:4d}  recon mse (last 200) {np.mean(hist[-200:]):.4f}"
              f"  test recon mse {test_mse:.4f}")

ckpt_dir = tempfile.mkdtemp(prefix="whistle_")
ckpt = os.path.join(ckpt_dir, "encoder.safetensors")
dae.enc.save_weights(ckpt)
print(f"   encoder saved -> {os.path.basename(ckpt)}")

# ---------------------------------------------------------------- stage 2
print("\nstage 2 - linear probe: encoder loaded from the checkpoint and FROZEN (SGD 0.05, momentum 0.9)")
clf = Classifier()
clf.enc.load_weights(ckpt)
clf.enc.freeze()
mx.eval(clf.parameters())
frozen_copy = tree_map(lambda a: mx.array(a), clf.enc.parameters())
n_train = sum(v.size for _, v in tree_flatten(clf.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(clf.parameters()))
print(f"   trainable {n_train} of {n_all} parameters")
print(f"   untrained probe: test accuracy {accuracy(clf, X_test, Y_test):.1f}%"
      f"  (chance {100 / len(COMMANDS):.1f}%)")


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


opt2 = optim.SGD(learning_rate=0.05, momentum=0.9)
clf_vg = nn.value_and_grad(clf, ce)
NL = X_lab.shape[0]
for step in range(1, 401):
    idx = mx.array(rng.integers(0, NL, 64))
    loss, g = clf_vg(clf, X_lab[idx], Y_lab[idx])
    if step == 1:
        audit(g, "head only")
    opt2.update(clf, g)
    mx.eval(clf.parameters(), opt2.state, loss)
    if step % 100 == 0:
        print(f"   step {step:4d}  train ce {loss.item():.4f}  "
              f"labelled acc {accuracy(clf, X_lab, Y_lab):5.1f}%  "
              f"test acc {accuracy(clf, X_test, Y_test):5.1f}%")
drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b)
            in zip(tree_flatten(clf.enc.parameters()), tree_flatten(frozen_copy)))
print(f"   frozen encoder max change during the probe: {drift:.1e}")

# ---------------------------------------------------------------- stage 3
print("\nstage 3 - unfreeze everything, fine-tune end to end (AdamW 1e-4, wd 5e-2)")
clf.unfreeze()
opt3 = optim.AdamW(learning_rate=1e-4, weight_decay=5e-2)
clf_vg = nn.value_and_grad(clf, ce)
for step in range(1, 201):
    idx = mx.array(rng.integers(0, NL, 64))
    loss, g = clf_vg(clf, X_lab[idx], Y_lab[idx])
    if step == 1:
        audit(g, "encoder + head")
    opt3.update(clf, g)
    mx.eval(clf.parameters(), opt3.state, loss)
    if step == 1 or step % 50 == 0:
        print(f"   step {step:4d}  train ce {loss.item():.4f}  "
              f"labelled acc {accuracy(clf, X_lab, Y_lab):5.1f}%  "
              f"test acc {accuracy(clf, X_test, Y_test):5.1f}%")

print("\nper-command test accuracy:")
pred = np.array(mx.argmax(clf(X_test), axis=1))
for c, name in enumerate(COMMANDS):
    m = y_test == c
    print(f"   {name:<11s} {100.0 * np.mean(pred[m] == c):5.1f}%")
print(f"\ndone in {time.time() - t0:.1f}s")
