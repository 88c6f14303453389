"""Fireworks test range: grade each aerial shell burst as clean / smeared / dud
from nine readings of the launch log. Few labelled shells, so the net overfits;
the run keeps the weights with the best validation macro-F1 and restores them."""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(266)
CLASSES = ["clean", "smeared", "dud"]


def make_shells(n, flip=0.0):
    comp_moist = rng.normal(0, 1, n)        # star composition moisture
    lift_charge = rng.normal(0, 1, n)       # lift charge mass (standardised)
    fuse_delay = rng.normal(0, 1, n)        # time fuse delay
    shell_age = rng.gamma(2.0, 0.5, n) - 1.0
    air_temp = rng.normal(0, 1, n)
    humidity = rng.normal(0, 1, n)
    wind = np.abs(rng.normal(0, 1, n))
    paste_ratio = rng.normal(0, 1, n)
    batch_code = rng.normal(0, 1, n)        # carries no signal
    s_dud = 1.3 * comp_moist + 0.9 * shell_age - 0.8 * lift_charge + 0.6 * humidity * comp_moist
    s_smear = 1.1 * np.tanh(fuse_delay * 1.5) + 0.8 * wind - 0.7 * paste_ratio + 0.5 * air_temp ** 2
    logits = 2.2 * np.stack([np.full(n, 1.0), s_smear - 0.3, s_dud - 0.4], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    if flip > 0:
        m = rng.random(n) < flip
        y[m] = rng.integers(0, 3, m.sum())
    X = np.stack([comp_moist, lift_charge, fuse_delay, shell_age, air_temp,
                  humidity, wind, paste_ratio, batch_code], 1).astype(np.float32)
    return X, y.astype(np.int32)


Xtr, ytr = make_shells(360, flip=0.10)
Xva, yva = make_shells(1500)
Xte, yte = make_shells(3000)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva, Xte = [(a - mu) / sd for a in (Xtr, Xva, Xte)]
Xtr, Xva, Xte = mx.array(Xtr), mx.array(Xva), mx.array(Xte)
ytr, yva, yte = mx.array(ytr), mx.array(yva), mx.array(yte)
print("train class counts", np.bincount(np.array(ytr), minlength=3).tolist(),
      "val", np.bincount(np.array(yva), minlength=3).tolist())


class ShellGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(9, 128)
        self.mid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 3)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = nn.gelu(self.mid(h))
        return self.out(h)


def macro_f1(pred, y, k=3):
    pred, y = np.array(pred), np.array(y)
    f1s = []
    for c in range(k):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s))


def evaluate(model, X, y):
    logits = model(X)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    pred = mx.argmax(logits, axis=1)
    acc = mx.mean(pred == y)
    mx.eval(ce, pred, acc)
    return ce.item(), macro_f1(pred, y), acc.item()


mx.random.seed(7)
model = ShellGrader()
mx.eval(model.parameters())

batch = 32
steps_per_epoch = math.ceil(360 / batch)
warm = optim.linear_schedule(0.0, 0.05, 3 * steps_per_epoch)
sched = optim.join_schedules([warm, lambda s: 0.05], [3 * steps_per_epoch])
opt = optim.Adagrad(learning_rate=sched)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

ckpt_dir = tempfile.mkdtemp(prefix="starmine_")
best_path = os.path.join(ckpt_dir, "best_grader.safetensors")
best_f1, best_epoch, wait = -1.0, -1, 0
patience, min_delta, max_epochs = 10, 0.005, 150
t0 = time.time()
for epoch in range(1, max_epochs + 1):
    perm = mx.array(rng.permutation(360))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * batch:(i + 1) * batch]
        loss, grads = grad_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * idx.shape[0]
    tr_ce = tot / 360
    va_ce, va_f1, va_acc = evaluate(model, Xva, yva)
    if va_f1 > best_f1 + min_delta:
        best_f1, best_epoch, wait = va_f1, epoch, 0
        model.save_weights(best_path)
        tag = "saved"
    else:
        wait += 1
        tag = f"wait {wait}/{patience}"
    print(f"epoch {epoch:3d} lr {opt.learning_rate.item():.4f} train_ce {tr_ce:.4f} "
          f"val_ce {va_ce:.4f} val_acc {va_acc:.3f} val_macroF1 {va_f1:.4f} "
          f"best {best_f1:.4f}@{best_epoch} {tag}")
    if wait >= patience:
        print(f"no macro-F1 gain above {min_delta} for {patience} epochs; stopping after epoch {epoch}")
        break

last_te = evaluate(model, Xte, yte)
model.load_weights(best_path)
mx.eval(model.parameters())
re_va = evaluate(model, Xva, yva)
best_te = evaluate(model, Xte, yte)
maj = int(np.bincount(np.array(ytr)).argmax())
maj_f1 = macro_f1(np.full(3000, maj), yte)
print(f"restored epoch {best_epoch}: val macroF1 {re_va[1]:.4f} (recorded {best_f1:.4f})")
print(f"test  last-epoch weights : ce {last_te[0]:.4f} acc {last_te[2]:.3f} macroF1 {last_te[1]:.4f}")
print(f"test  restored best      : ce {best_te[0]:.4f} acc {best_te[2]:.3f} macroF1 {best_te[1]:.4f}")
print(f"test  majority-class '{CLASSES[maj]}' baseline macroF1 {maj_f1:.4f}")
shutil.rmtree(ckpt_dir, ignore_errors=True)
print(f"done in {time.time() - t0:.1f}s")
