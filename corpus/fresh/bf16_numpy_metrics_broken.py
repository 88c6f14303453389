"""bfloat16 classifier whose validation metrics are computed with NumPy.

Reproduces ml-explore/mlx#3974 ("bfloat16 buffer protocol format string itemsize mismatch"):
np.asarray() on a bfloat16 MLX array raises, because NumPy has no bfloat16; the thread and its
fix (PR #3975) say to cast to float32 before converting.
"""

import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(11)
D, K = 16, 4
centers = mx.random.normal((K, D)) * 2.0
ytr = mx.random.randint(0, K, (2048,))
xtr = centers[ytr] + mx.random.normal((2048, D))
yva = mx.random.randint(0, K, (512,))
xva = centers[yva] + mx.random.normal((512, D))

model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, K))
model.set_dtype(mx.bfloat16)
xtr, xva = xtr.astype(mx.bfloat16), xva.astype(mx.bfloat16)
opt = optim.Lion(learning_rate=3e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x).astype(mx.float32), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def bar(done, total, width=24):
    k = int(width * done / total)
    return "[" + "=" * k + ">" + " " * (width - k) + "]"


STEPS_PER_EPOCH = 64
for epoch in range(1, 9):
    for it in range(1, STEPS_PER_EPOCH + 1):
        idx = mx.random.randint(0, 2048, (32,))
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 16 == 0:
            sys.stdout.write(f"\repoch {epoch} {bar(it, STEPS_PER_EPOCH)} {it}/{STEPS_PER_EPOCH}"
                             f" loss={loss.item():.4f}")
            sys.stdout.flush()
    logits = model(xva)
    probs = np.asarray(mx.softmax(logits, axis=-1))
    acc = float((probs.argmax(axis=1) == np.asarray(yva)).mean())
    nll = float(-np.log(probs[np.arange(len(probs)), np.asarray(yva)] + 1e-9).mean())
    sys.stdout.write(f"  val_acc={acc:.3f} val_nll={nll:.4f}\n")
