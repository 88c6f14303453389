"""Rock-sample classifier (5 mineral classes from 12 noisy assay readings).

The MLP is initialised with LSUV: orthogonal weights, then each layer is
rescaled on a data batch until its pre-activation std is ~1.  The objective is
cross-entropy minus 0.5 * entropy of the batch-mean prediction (a class-balance
bonus), so it drops below zero once the model is confident and balanced.
Training stops at epoch 6, writes a checkpoint, and a fresh process-style
rebuild resumes from it for epochs 7-12.
"""
import math
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

N_CLASSES = 5
N_FEAT = 12
BONUS = 0.5


class Assay(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.layers = [nn.Linear(N_FEAT, width), nn.Linear(width, width), nn.Linear(width, N_CLASSES)]

    def __call__(self, x, collect=None):
        for i, l in enumerate(self.layers):
            x = l(x)
            if collect is not None:
                collect.append(x)
            if i < len(self.layers) - 1:
                x = nn.gelu(x)
        return x


def orthogonal(shape, rng):
    a = rng.standard_normal((max(shape), min(shape)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    return q[: shape[0], : shape[1]] if shape[0] >= shape[1] else q.T[: shape[0], : shape[1]]


def lsuv_init(model, xb, rng, tol=0.02, max_iter=10):
    for l in model.layers:
        l.weight = mx.array(orthogonal(l.weight.shape, rng), dtype=mx.float32)
        l.bias = mx.zeros_like(l.bias)
    for i, l in enumerate(model.layers):
        for it in range(max_iter):
            acts = []
            model(xb, collect=acts)
            std = acts[i].std().item()
            if abs(std - 1.0) < tol:
                break
            l.weight = l.weight / std
        print(f"lsuv layer {i}: std {std:.3f} after {it} rescale(s)")


def make_data(rng, n):
    centers = np.random.default_rng(99).normal(0, 1.2, size=(N_CLASSES, N_FEAT))
    y = rng.integers(0, N_CLASSES, size=n)
    x = centers[y] + rng.normal(0, 1.0, size=(n, N_FEAT))
    x = x * np.linspace(0.5, 20.0, N_FEAT)  # assays come in very different units
    return mx.array(x, dtype=mx.float32), mx.array(y, dtype=mx.int32)


def objective(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    p_bar = mx.softmax(logits, axis=-1).mean(axis=0)
    ent = -(p_bar * mx.log(p_bar + 1e-9)).sum()
    return ce - BONUS * ent


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).mean().item()


def train_epochs(model, opt, xtr, ytr, xva, yva, first, last, rng):
    grad_fn = nn.value_and_grad(model, objective)
    n = xtr.shape[0]
    for ep in range(first, last + 1):
        perm = rng.permutation(n)
        tot, nb = 0.0, 0
        for s in range(0, n, 64):
            idx = mx.array(perm[s : s + 64])
            val, grads = grad_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += val.item()
            nb += 1
        print(f"epoch {ep:2d} | objective {tot / nb:+.4f} | val acc {accuracy(model, xva, yva):.3f} "
              f"| lr {opt.learning_rate.item():.2e}")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_data(rng, 1600)
    xva, yva = make_data(rng, 400)
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd

    counts = np.bincount(np.array(yva), minlength=N_CLASSES)
    print(f"baseline majority-class val acc {counts.max() / counts.sum():.3f}; "
          f"objective floor {-BONUS * math.log(N_CLASSES):+.4f} (perfect, balanced)")

    model = Assay()
    lsuv_init(model, xtr[:256], np.random.default_rng(5))
    mx.eval(model.parameters())
    print(f"after init: objective {objective(model, xva, yva).item():+.4f}  val acc {accuracy(model, xva, yva):.3f}")

    steps_per_epoch = math.ceil(xtr.shape[0] / 64)
    sched = optim.cosine_decay(3e-3, 12 * steps_per_epoch, 1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    train_epochs(model, opt, xtr, ytr, xva, yva, 1, 6, rng)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    acc_saved = accuracy(model, xva, yva)
    print(f"checkpoint written to {ckpt} (val acc {acc_saved:.3f})")
    del model, opt

    model = Assay()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    mx.eval(model.parameters())
    print(f"resumed at step {opt.step.item()}: val acc {accuracy(model, xva, yva):.3f}")
    train_epochs(model, opt, xtr, ytr, xva, yva, 7, 12, rng)
    print(f"final val acc {accuracy(model, xva, yva):.3f}")
    shutil.rmtree(ckpt)


if __name__ == "__main__":
    main()
