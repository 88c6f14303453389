"""Textile mill camera: 4-way weave type (plain / left twill / right twill / basket)
from 12x12 greyscale loom patches with pixel values in [0, 1].
"Fast" adversarial training (Wong et al. 2020): one FGSM step from a uniform
random start (step 1.25*eps), pixel range clipped to [0, 1], a one-cycle learning
rate that starts at exactly 0, peaks mid-run and returns to 0. The run is split
in two sessions (checkpoint written to disk, fresh process state restored from
it), and the weights with the best PGD accuracy on a small guard split are kept
as the final model."""
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
S, C = 12, 4
EPS = 6 / 255 * 3     # ~0.071 in pixel units
ALPHA = 1.25 * EPS
BATCH = 64
EPOCHS = 10
PEAK_LR = 0.03


def weave(kind, phase):
    i, j = np.meshgrid(np.arange(S), np.arange(S), indexing="ij")
    if kind == 0:
        p = (i + j + phase) % 2
    elif kind == 1:
        p = ((i + j + phase) % 4) < 2
    elif kind == 2:
        p = ((i - j + phase) % 4) < 2
    else:
        p = ((i // 2 + j // 2 + phase) % 2)
    return p.astype(np.float32)


def make_data(n):
    y = rng.integers(0, C, size=n)
    x = np.empty((n, S, S, 1), np.float32)
    for k in range(n):
        img = weave(y[k], rng.integers(0, 4))
        contrast = rng.uniform(0.3, 0.6)
        bright = rng.uniform(0.2, 0.5)
        img = bright + contrast * img + rng.normal(0, 0.12, (S, S))
        x[k, :, :, 0] = np.clip(img, 0.0, 1.0)
    return x, y.astype(np.int32)


xtr, ytr = make_data(3000)
xguard, yguard = make_data(300)
xte, yte = make_data(1000)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xg, Yg = mx.array(xguard), mx.array(yguard)
Xte, Yte = mx.array(xte), mx.array(yte)


class WeaveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(6 * 6 * 16, 32)
        self.out = nn.Linear(32, C)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = h.reshape(h.shape[0], -1)
        return self.out(nn.relu(self.fc(h)))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def pgd_acc(model, x, y, steps=7):
    a = 2.5 * EPS / steps
    d = mx.random.uniform(-EPS, EPS, x.shape)
    g = mx.grad(lambda dd: ce(model, mx.clip(x + dd, 0.0, 1.0), y))
    for _ in range(steps):
        d = mx.clip(d + a * mx.sign(g(d)), -EPS, EPS)
    return accuracy(model, mx.clip(x + d, 0.0, 1.0), y)


steps_per_epoch = len(ytr) // BATCH
total_steps = EPOCHS * steps_per_epoch
half = total_steps // 2
lr_schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, half), optim.linear_schedule(PEAK_LR, 0.0, total_steps - half)],
    [half],
)


def fgsm_rs_batch(model, x, y):
    d = mx.random.uniform(-EPS, EPS, x.shape)
    g = mx.grad(lambda dd: ce(model, mx.clip(x + dd, 0.0, 1.0), y))(d)
    d = mx.clip(d + ALPHA * mx.sign(g), -EPS, EPS)
    return mx.stop_gradient(mx.clip(x + d, 0.0, 1.0))


def build():
    m = WeaveNet()
    o = optim.SGD(learning_rate=lr_schedule, momentum=0.9, weight_decay=5e-4)
    return m, o


def run_epochs(model, opt, first_epoch, last_epoch, best, ckdir):
    step_fn = nn.value_and_grad(model, ce)
    for ep in range(first_epoch, last_epoch + 1):
        perm = mx.array(rng.permutation(len(ytr)))
        tot, n = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            xb, yb = Xtr[idx], Ytr[idx]
            xa = fgsm_rs_batch(model, xb, yb)
            lr_now = opt.learning_rate.item()
            loss, grads = step_fn(model, xa, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            n += 1
            if b == 0:
                print(f"  epoch {ep} step {int(opt.step.item()) - 1:4d}  lr {lr_now:.6f}  adv_loss {loss.item():.4f}")
        g_rob = pgd_acc(model, Xg, Yg)
        g_clean = accuracy(model, Xg, Yg)
        tag = ""
        if g_rob > best["rob"]:
            best["rob"] = g_rob
            best["epoch"] = ep
            model.save_weights(os.path.join(ckdir, "best.safetensors"))
            tag = "  *kept"
        print(f"epoch {ep}  mean adv_loss {tot / n:.4f}  guard clean {g_clean:.3f}  guard pgd7 {g_rob:.3f}{tag}")
    return best


ckdir = tempfile.mkdtemp(None, "weave_ck_")
t0 = time.time()
mx.random.seed(3)
model, opt = build()
print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}  eps {EPS:.4f}  steps {total_steps}")
best = {"rob": -1.0, "epoch": 0}

print("session 1")
best = run_epochs(model, opt, 1, EPOCHS // 2, best, ckdir)
model.save_weights(os.path.join(ckdir, "last.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
del model, opt

print("session 2 (resumed from disk)")
model, opt = build()
model.load_weights(os.path.join(ckdir, "last.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
print(f"  resumed at optimizer step {int(opt.step.item())}, lr {opt.learning_rate.item():.6f}")
best = run_epochs(model, opt, EPOCHS // 2 + 1, EPOCHS, best, ckdir)
print(f"last-epoch lr {lr_schedule(total_steps - 1).item():.6f}")

last_clean, last_rob = accuracy(model, Xte, Yte), pgd_acc(model, Xte, Yte)
model.load_weights(os.path.join(ckdir, "best.safetensors"))
best_clean, best_rob = accuracy(model, Xte, Yte), pgd_acc(model, Xte, Yte)
print(f"test  last weights: clean {last_clean:.3f} pgd7 {last_rob:.3f}")
print(f"test  kept weights (epoch {best['epoch']}): clean {best_clean:.3f} pgd7 {best_rob:.3f}  chance 0.250")
print(f"done in {time.time() - t0:.1f}s")
shutil.rmtree(ckdir, ignore_errors=True)
