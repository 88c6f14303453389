"""Tyre-fitting bay camera: 4-way tread wear grade from 12x12 groove patches.

A small BatchNorm CNN is trained with Nesterov SGD (cosine phase), then a constant-lr
phase where the weights are averaged after every epoch (stochastic weight averaging).
The averaged weights need fresh BatchNorm running statistics, so they are scored
twice: with the statistics of the last live model, and after a recalibration pass
over the training images.  Report lines are XML elements.
"""
import copy
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)
mx.random.seed(11)
S = 12
GRADES = ["new", "half", "worn", "uneven"]


def patch(grade):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    phase = rng.uniform(0, 4)
    angle = rng.uniform(-0.3, 0.3)
    groove = (((xx + angle * yy + phase) % 4.0) < 1.6).astype(np.float32)
    depth = {0: 1.0, 1: 0.62, 2: 0.3}.get(grade)
    if grade == 3:  # one shoulder worn, the other still deep
        depth = np.linspace(1.0, 0.2, S, dtype=np.float32)[None, :]
        if rng.random() < 0.5:
            depth = depth[:, ::-1]
    img = depth * groove
    img = img + rng.uniform(-0.4, 0.4)  # lighting offset per photo
    img = img * rng.uniform(0.8, 1.25)  # exposure
    img = img + rng.normal(0, 0.18, size=img.shape)
    return img.astype(np.float32)


def dataset(n):
    y = rng.integers(0, 4, size=n)
    x = np.stack([patch(int(g)) for g in y])[..., None]
    return mx.array(x), mx.array(y)


class TreadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.b1 = nn.BatchNorm(8)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm(16)
        self.fc = nn.Linear(16, 4)

    def __call__(self, x):
        x = nn.relu(self.b1(self.c1(x)))
        x = nn.relu(self.b2(self.c2(x)))
        return self.fc(x.mean(axis=(1, 2)))


def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = float((mx.argmax(logits, -1) == y).astype(mx.float32).mean()) * 100
    model.train()
    return ce, acc


def xml(tag, **attrs):
    body = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    print(f"<{tag} {body}/>")


t0 = time.time()
xtr, ytr = dataset(2000)
xva, yva = dataset(600)
print('<?xml version="1.0"?>')
print("<run>")
xml("data", train=xtr.shape[0], val=xva.shape[0], classes=len(GRADES), chance_pct="25.0",
    prep_s=f"{time.time() - t0:.1f}")

model = TreadNet()
mx.eval(model.parameters())
BATCH, COS_EPOCHS, SWA_EPOCHS = 50, 8, 6
steps_per_epoch = xtr.shape[0] // BATCH
cos = optim.cosine_decay(0.05, COS_EPOCHS * steps_per_epoch, 0.01)
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
ce0, acc0 = evaluate(model, xva, yva)
xml("epoch", n=0, phase="init", lr="-", train_ce="-", val_ce=f"{ce0:.4f}", val_acc_pct=f"{acc0:.1f}")

swa_params, swa_count = None, 0
gstep = 0
for epoch in range(1, COS_EPOCHS + SWA_EPOCHS + 1):
    phase = "cosine" if epoch <= COS_EPOCHS else "swa"
    perm = mx.array(rng.permutation(xtr.shape[0]))
    losses = []
    for i in range(steps_per_epoch):
        lr = float(cos(gstep)) if phase == "cosine" else 0.02
        opt.learning_rate = lr
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, grads = step_fn(model, xtr[idx], ytr[idx])
        if gstep == 0:
            flat = tree_flatten(grads)
            xml("grad_check", leaves=len(flat),
                zero=sum(1 for _, g in flat if float(mx.abs(g).max()) == 0.0))
        opt.update(model, grads)
        mx.eval(model.parameters(), model.state, opt.state, loss)
        losses.append(loss.item())
        gstep += 1
    if phase == "swa":
        live = model.trainable_parameters()
        if swa_params is None:
            swa_params = tree_map(lambda p: mx.array(p), live)
        else:
            swa_params = tree_map(lambda a, p: a + (p - a) / (swa_count + 1), swa_params, live)
        swa_count += 1
        mx.eval(swa_params)
    ce, acc = evaluate(model, xva, yva)
    xml("epoch", n=epoch, phase=phase, lr=f"{lr:.4f}", train_ce=f"{np.mean(losses):.4f}",
        val_ce=f"{ce:.4f}", val_acc_pct=f"{acc:.1f}", swa_models=swa_count)

# averaged weights with the BatchNorm statistics of the last live model
swa_model = copy.deepcopy(model)
swa_model.update(swa_params)
ce_stale, acc_stale = evaluate(swa_model, xva, yva)
xml("swa", bn_stats="last_live_model", val_ce=f"{ce_stale:.4f}", val_acc_pct=f"{acc_stale:.1f}")

# recalibrate BatchNorm running statistics: reset, then forward passes in train mode
for bn in (swa_model.b1, swa_model.b2):
    bn.running_mean = mx.zeros_like(bn.running_mean)
    bn.running_var = mx.ones_like(bn.running_var)
swa_model.train()
for _ in range(3):
    for i in range(0, xtr.shape[0], 200):
        swa_model(xtr[i:i + 200])
        mx.eval(swa_model.state)
ce_rc, acc_rc = evaluate(swa_model, xva, yva)
xml("swa", bn_stats="recalibrated", val_ce=f"{ce_rc:.4f}", val_acc_pct=f"{acc_rc:.1f}")
ce_live, acc_live = evaluate(model, xva, yva)
xml("summary", live_val_acc_pct=f"{acc_live:.1f}", swa_val_acc_pct=f"{acc_rc:.1f}",
    chance_pct="25.0", wall_s=f"{time.time() - t0:.1f}")
print("</run>")
