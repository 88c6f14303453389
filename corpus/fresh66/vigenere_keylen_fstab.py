"""Guess the key length (2..9) of a Vigenere-enciphered English-like text
from its shifted self-coincidence profile. Silent while training; the
report at the end is written in /etc/fstab layout."""
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
# rough English letter frequencies
FREQ = np.array([8.2, 1.5, 2.8, 4.3, 12.7, 2.2, 2.0, 6.1, 7.0, 0.15, 0.77, 4.0, 2.4,
                 6.7, 7.5, 1.9, 0.1, 6.0, 6.3, 9.1, 2.8, 0.98, 2.4, 0.15, 2.0, 0.07])
FREQ = FREQ / FREQ.sum()
KMIN, KMAX, NSHIFT, LEN = 2, 9, 24, 140


def sample(n):
    X = np.zeros((n, NSHIFT + 2), np.float32)
    y = rng.integers(KMIN, KMAX + 1, n)
    for i in range(n):
        length = rng.integers(90, LEN + 1)
        plain = rng.choice(26, size=length, p=FREQ)
        key = rng.integers(0, 26, y[i])
        c = (plain + key[np.arange(length) % y[i]]) % 26
        coinc = np.array([np.mean(c[s:] == c[:-s]) for s in range(1, NSHIFT + 1)])
        X[i, :NSHIFT] = (coinc - 0.0385) / 0.03
        X[i, NSHIFT] = (length - 115) / 15
        counts = np.bincount(c, minlength=26)
        X[i, NSHIFT + 1] = (np.sum(counts * (counts - 1)) / (length * (length - 1)) - 0.045) / 0.01
    return X, (y - KMIN).astype(np.int32)


Xtr, ytr = sample(9000)
Xte, yte = sample(1500)
NC = KMAX - KMIN + 1

model = nn.Sequential(nn.Linear(NSHIFT + 2, 96), nn.GELU(), nn.Dropout(0.1),
                      nn.Linear(96, 96), nn.GELU(), nn.Linear(96, NC))
sched = optim.step_decay(2e-3, 0.5, 700)
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.05, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

model.train()
_, g0 = vg(model, mx.array(Xtr[:64]), mx.array(ytr[:64]))
zero_leaves = [k for k, v in tree_flatten(g0) if not bool(mx.any(v != 0))]
n_leaves = len(tree_flatten(g0))
opt.init(model.trainable_parameters())
state = [model.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss


def evaluate():
    model.eval()
    logits = model(mx.array(Xte))
    ce = float(nn.losses.cross_entropy(logits, mx.array(yte), reduction="mean"))
    pred = np.array(mx.argmax(logits, axis=1))
    model.train()
    return ce, float(np.mean(pred == yte)), float(np.mean(np.abs(pred - yte) <= 1)), pred


ce0, acc0, _, _ = evaluate()
t0 = time.time()
BS, EPOCHS = 64, 24
hist = []
for ep in range(EPOCHS):
    perm = rng.permutation(len(Xtr))
    tot, nb = 0.0, 0
    for b in range(0, len(Xtr) - BS + 1, BS):
        idx = perm[b:b + BS]
        loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
        mx.eval(state, loss)
        tot += loss.item(); nb += 1
    ce, acc, acc1, pred = evaluate()
    hist.append((ep + 1, tot / nb, ce, acc, acc1, opt.learning_rate.item(), time.time() - t0))

# ---- report, /etc/fstab layout: <fs_spec> <fs_file> <fs_vfstype> <fs_mntops> <fs_freq> <fs_passno>
print("# /etc/fstab: static file system information (vigenere key-length run)")
print(f"# <file system>  <mount point>  <type>  <options>  <dump>  <pass>")
print(f"# gradcheck: leaves={n_leaves} zero_grad_leaves={len(zero_leaves)} {zero_leaves}")
print("# train_loss = label-smoothed (0.05) cross-entropy with dropout on; test_ce = plain CE, eval mode")
print(f"# chance_acc={1 / NC:.3f} untrained_test_ce={ce0:.4f} untrained_acc={acc0:.3f}")
for ep, tr, ce, acc, acc1, lr, el in hist:
    print(f"UUID=epoch-{ep:02d}  /runs/keylen/ep{ep:02d}  ckpt  "
          f"train_loss={tr:.4f},test_ce={ce:.4f},test_acc={acc:.3f},within1={acc1:.3f},lr={lr:.2e},t={el:.1f}s  0  {2 if ep < EPOCHS else 1}")
for k in range(NC):
    m = yte == k
    print(f"# keylen={k + KMIN} n={m.sum()} acc={np.mean(pred[m] == k):.3f}")
