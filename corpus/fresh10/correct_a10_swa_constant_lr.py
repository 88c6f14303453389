"""Stochastic weight averaging: SGD at a constant, fairly high learning rate.

The per-epoch training loss stays noisy and stops trending after a few epochs
(the iterates bounce around the basin); from epoch 8 the weights are averaged
once per epoch and the *averaged* model is what gets evaluated.
"""
import json

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(5)
rng = np.random.default_rng(5)
N, D, C = 3000, 20, 4
centers = rng.normal(scale=1.2, size=(C, D)).astype(np.float32)
labels = rng.integers(0, C, size=N)
feats = centers[labels] + rng.normal(scale=2.4, size=(N, D)).astype(np.float32)
X, Y = mx.array(feats[:2400]), mx.array(labels[:2400])
Xv, Yv = mx.array(feats[2400:]), mx.array(labels[2400:])

model = nn.Sequential(nn.Linear(D, 48), nn.ReLU(), nn.Linear(48, C))
swa_model = nn.Sequential(nn.Linear(D, 48), nn.ReLU(), nn.Linear(48, C))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9, weight_decay=5e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def evaluate(m):
    logits = m(Xv)
    return loss_fn(m, Xv, Yv).item(), mx.mean(logits.argmax(-1) == Yv).item()


vg = nn.value_and_grad(model, loss_fn)
SWA_START = 8
swa_params = None
n_avg = 0
for epoch in range(1, 26):
    perm = mx.array(rng.permutation(2400))
    losses = []
    for i in range(0, 2400, 32):
        idx = perm[i:i + 32]
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    rec = {"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4),
           "last_batch_loss": round(losses[-1], 4)}
    vl, va = evaluate(model)
    rec.update(val_loss=round(vl, 4), val_acc=round(va, 4))
    if epoch >= SWA_START:
        if swa_params is None:
            swa_params = tree_map(lambda p: p, model.parameters())
        else:
            swa_params = tree_map(lambda a, p: a + (p - a) / (n_avg + 1), swa_params, model.parameters())
        n_avg += 1
        mx.eval(swa_params)
        swa_model.update(swa_params)
        sl, sa = evaluate(swa_model)
        rec.update(swa_models=n_avg, swa_val_loss=round(sl, 4), swa_val_acc=round(sa, 4))
    print(json.dumps(rec), flush=True)
