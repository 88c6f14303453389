"""Split-cane rod shop: grade Tonkin cane strips (4 grades) from a 32-sample three-point bend trace.

A small channels-last Conv1d net runs in bfloat16; the optimizer owns a float32
master copy.  Training is interrupted after epoch 6: the weights are written as
a bfloat16 safetensors file and the Adam moments + step counter as float32,
everything is thrown away, and a new process-like section rebuilds the model
and continues the one-cycle schedule where it stopped.  The schedule decays
linearly to 0 at the last step.  Label smoothing keeps the training loss well above zero.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

rng = np.random.default_rng(3310)
mx.random.seed(3310)
GRADES = ["tip", "mid", "butt", "reject"]
T = 32


def simulate(n):
    g = rng.choice(4, size=n, p=[0.40, 0.25, 0.20, 0.15])
    t = np.linspace(0, 1, T)
    stiff = np.array([0.8, 1.3, 1.9, 2.6])[g] * rng.lognormal(0, 0.12, n)
    yield_at = np.array([0.75, 0.65, 0.55, 0.45])[g] + rng.normal(0, 0.05, n)
    crack = rng.random(n) < np.array([0.05, 0.12, 0.25, 0.40])[g]
    f = stiff[:, None] * np.minimum(t[None, :], yield_at[:, None])
    f += 0.15 * stiff[:, None] * np.maximum(t[None, :] - yield_at[:, None], 0)
    drop_pos = rng.integers(18, 30, n)
    for i in np.where(crack)[0]:
        f[i, drop_pos[i] :] *= 0.7
    f += rng.normal(0, 0.05, f.shape)
    return f.astype(np.float32)[:, :, None], g.astype(np.int32)  # (N, T, C=1) channels-last


Xtr, ytr = simulate(5000)
Xva, yva = simulate(1000)
scale = float(Xtr.std())
Xtr /= scale
Xva /= scale
majority = float(np.mean(yva == np.bincount(ytr).argmax()))


class StripNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)
        self.head = nn.Linear(32, 4)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.head(h.mean(axis=1))


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, label_smoothing=0.2, reduction="mean")


def accuracy(model, X, Y):
    logits = model(mx.array(X).astype(mx.bfloat16))
    return mx.mean(mx.argmax(logits, axis=-1) == mx.array(Y)).item()


BS = 50
STEPS_PER_EPOCH = len(Xtr) // BS
EPOCHS = 12
TOTAL = EPOCHS * STEPS_PER_EPOCH
UP = int(0.3 * TOTAL)
schedule = optim.join_schedules(
    [optim.linear_schedule(1e-4, 3e-3, UP), optim.linear_schedule(3e-3, 0.0, TOTAL - UP)], [UP]
)


def build():
    m = StripNet()
    m.set_dtype(mx.bfloat16)
    return m, optim.Adam(learning_rate=schedule)


def run_epochs(model, opt, master, first, last):
    lg = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last + 1):
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for s in range(STEPS_PER_EPOCH):
            idx = perm[s * BS : (s + 1) * BS]
            xb = mx.array(Xtr[idx]).astype(mx.bfloat16)
            yb = mx.array(ytr[idx])
            model.update(tree_map(lambda p: p.astype(mx.bfloat16), master))
            loss, g = lg(model, xb, yb)
            master = opt.apply_gradients(tree_map(lambda t: t.astype(mx.float32), g), master)
            mx.eval(master, opt.state, loss)
            tot += loss.item()
        model.update(tree_map(lambda p: p.astype(mx.bfloat16), master))
        print(
            f"epoch {ep:2d}  step {opt.step.item():4d}  lr {opt.learning_rate.item():.2e}"
            f"  train loss {tot / STEPS_PER_EPOCH:.4f}  val acc {accuracy(model, Xva, yva):.3f}"
            f"  (majority {majority:.3f})"
        )
    return master


t0 = time.perf_counter()
model, opt = build()
master = tree_map(lambda p: p.astype(mx.float32), model.parameters())
print(f"cane strip grader: {sum(v.size for _, v in tree_flatten(master))} params, {len(Xtr)} train / {len(Xva)} val traces")
print(f"label smoothing 0.2 -> loss floor for a perfect grader is about {-(0.85*np.log(0.85)+3*0.05*np.log(0.05)):.3f}")
master = run_epochs(model, opt, master, 1, 6)

ckdir = tempfile.mkdtemp()
mx.save_safetensors(os.path.join(ckdir, "weights_bf16.safetensors"),
                    {k: v.astype(mx.bfloat16) for k, v in tree_flatten(master)})
mx.save_safetensors(os.path.join(ckdir, "adam_state.safetensors"), dict(tree_flatten(opt.state)))
acc_before = accuracy(model, Xva, yva)
del model, opt, master
print(f"-- interrupted after epoch 6, checkpoint in {len(os.listdir(ckdir))} files; resuming --")

model, opt = build()
w = mx.load(os.path.join(ckdir, "weights_bf16.safetensors"))
master = tree_unflatten([(k, v.astype(mx.float32)) for k, v in w.items()])
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "adam_state.safetensors")).items()))
model.update(tree_map(lambda p: p.astype(mx.bfloat16), master))
print(f"resumed at step {opt.step.item()}  val acc {accuracy(model, Xva, yva):.3f} (before interruption {acc_before:.3f})")
master = run_epochs(model, opt, master, 7, EPOCHS)

print(f"final val acc {accuracy(model, Xva, yva):.3f}  majority baseline {majority:.3f}  lr now {opt.learning_rate.item():.1e}")
shutil.rmtree(ckdir)
print(f"done in {time.perf_counter() - t0:.1f}s")
