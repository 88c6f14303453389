# Cooperage: grade oak barrel staves (prime / cask / rework / firewood) from 10 shop
# readings. MLP, cross-entropy with label smoothing 0.3, SGD + momentum under cosine
# warm restarts, checkpoint to disk half way and resume into fresh objects.
import os
import shutil
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
mx.random.seed(11)
GRADES = ["prime", "cask", "rework", "firewood"]
K, F = 4, 10
W = rng.normal(size=(F, 3))


def make_staves(n):
    x = rng.normal(size=(n, F)).astype(np.float32)
    z = x @ W + 0.3 * rng.normal(size=(n, 3))
    score = z[:, 0] - 0.6 * np.abs(z[:, 1]) + 0.4 * z[:, 2] * z[:, 0]
    y = np.digitize(score, CUTS)
    return x, y.astype(np.int32)


_xs = rng.normal(size=(20000, F))
_zs = _xs @ W
CUTS = np.quantile(_zs[:, 0] - 0.6 * np.abs(_zs[:, 1]) + 0.4 * _zs[:, 2] * _zs[:, 0], [0.25, 0.5, 0.75])
xtr, ytr = make_staves(4000)
xva, yva = make_staves(1000)
Xva, Yva = mx.array(xva), mx.array(yva)


class Grader(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, K)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


CYCLE, CYCLES, BS = 150, 4, 64
TOTAL = CYCLE * CYCLES


def lr_at(step):
    t = (step % CYCLE) / CYCLE
    return 1e-3 + 0.5 * (0.08 - 1e-3) * (1 + np.cos(np.pi * t))


def build():
    m = Grader()
    mx.eval(m.parameters())
    o = optim.SGD(learning_rate=0.08, momentum=0.9, weight_decay=1e-4)
    return m, o


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.3, reduction="mean")


def evaluate(m):
    lg = m(Xva)
    nll = nn.losses.cross_entropy(lg, Yva, reduction="mean").item()
    acc = mx.mean(mx.argmax(lg, 1) == Yva).item()
    return nll, acc


lin = np.linalg.lstsq(np.c_[xtr, np.ones(len(xtr))], np.eye(K)[ytr], rcond=None)[0]
lin_acc = np.mean(np.argmax(np.c_[xva, np.ones(len(xva))] @ lin, 1) == yva)
print(f"staves train {len(ytr)} val {len(yva)}  linear-probe val acc {lin_acc:.3f}  chance {1/K:.2f}")
print(f"smoothed-target loss floor (perfect model) ~{-(0.775*np.log(0.775)+3*0.075*np.log(0.075)):.3f}")

ckdir = tempfile.mkdtemp(prefix="staves_")
model, opt = build()
step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
step, window = 0, []
while step < TOTAL:
    if step == TOTAL // 2:
        mx.save_safetensors(os.path.join(ckdir, "w.safetensors"), dict(tree_flatten(model.parameters())))
        mx.save_safetensors(os.path.join(ckdir, "o.safetensors"), dict(tree_flatten(opt.state)))
        before = evaluate(model)
        print(f"checkpoint at step {step}: val_nll {before[0]:.4f} val_acc {before[1]:.3f} -> {ckdir}")
        model, opt = build()
        model.update(tree_unflatten(list(mx.load(os.path.join(ckdir, "w.safetensors")).items())))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "o.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        after = evaluate(model)
        print(f"resumed into fresh objects: val_nll {after[0]:.4f} val_acc {after[1]:.3f}")
    idx = rng.integers(0, len(ytr), BS)
    opt.learning_rate = lr_at(step)
    loss, g = step_fn(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    window.append(loss.item())
    step += 1
    if step % CYCLE == 0:
        nll, acc = evaluate(model)
        print(f"step {step:4d} (end of restart cycle {step // CYCLE})  lr {lr_at(step - 1):.4f}  "
              f"smoothed_train {np.mean(window):.4f}  val_nll {nll:.4f}  val_acc {acc:.3f}")
        window = []
    elif step % CYCLE == 1 and step > 1:
        print(f"step {step:4d} restart: lr back to {lr_at(step - 1):.4f}")
nll, acc = evaluate(model)
shutil.rmtree(ckdir)
print(f"done: val_acc {acc:.3f} (linear probe {lin_acc:.3f})  val_nll {nll:.4f}  {time.time() - t0:.1f}s")
