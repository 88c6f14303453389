"""Marionette theatre workshop: classify the state of a puppet's string rig.

Classes: 0 sound, 1 slack control line, 2 frayed head string, 3 tangled hand strings.
Readings (synthetic): tension on 4 lines (N), swing period (s), twist count, hours of use,
humidity %.  Trained with a confidence penalty (cross-entropy minus beta * entropy), beta
ramped up over the first epochs.  The run is split in two sessions: session 1 writes a
checkpoint (weights + optimizer state) and session 2 restores it into fresh objects.
"""

import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(31)
N_TRAIN, N_VAL, N_CLS = 6000, 1500, 4


def make_rigs(n):
    y = rng.choice(N_CLS, size=n, p=[0.46, 0.2, 0.18, 0.16])
    tension = rng.normal(6.0, 0.6, size=(n, 4))
    tension[y == 1, rng.integers(0, 4)] -= 2.2          # one slack line
    tension[y == 2, 0] += rng.normal(1.0, 0.7, size=(y == 2).sum())
    period = 1.4 + 0.05 * tension.mean(1) + rng.normal(0, 0.08, n)
    period[y == 3] += 0.25
    twists = rng.poisson(1.0 + 2.5 * (y == 3))
    hours = rng.gamma(2.0, 40.0, n) + 60.0 * (y == 2)
    humid = rng.uniform(30, 80, n)
    x = np.column_stack([tension, period, twists, np.log1p(hours), humid]).astype(np.float32)
    flip = rng.random(n) < 0.08                         # stage-hand mislabels
    y = np.where(flip, rng.integers(0, N_CLS, n), y)
    return x, y.astype(np.int32)


xtr, ytr = make_rigs(N_TRAIN)
xva, yva = make_rigs(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
majority_pct = 100.0 * np.mean(yva == np.bincount(ytr).argmax())


class RigNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 64)
        self.l2 = nn.Linear(64, 64)
        self.drop = nn.Dropout(0.2)
        self.out = nn.Linear(64, N_CLS)

    def __call__(self, x):
        h = self.drop(nn.gelu(self.l1(x)))
        h = self.drop(nn.gelu(self.l2(h)))
        return self.out(h)


def penalised(model, x, y, beta):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    logp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    ent = -(mx.exp(logp) * logp).sum(-1).mean()
    return ce - beta * ent, (ce, ent)


def evaluate(model):
    model.eval()
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    p = mx.softmax(logits, axis=-1)
    conf, pred = p.max(-1), p.argmax(-1)
    acc = (pred == Yva).astype(mx.float32)
    bins = np.minimum((np.array(conf) * 10).astype(int), 9)
    ece = 0.0
    a, c = np.array(acc), np.array(conf)
    for b in range(10):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(a[m].mean() - c[m].mean())
    model.train()
    return ce, 100.0 * acc.mean().item(), 100.0 * ece


BATCH, EPOCHS, SPLIT_AT = 128, 14, 7
BETA_MAX, BETA_RAMP = 0.75, 4


def beta_at(epoch):
    return BETA_MAX * min(1.0, epoch / BETA_RAMP)


def run_epochs(model, opt, first, last):
    lg = nn.value_and_grad(model, penalised)
    for ep in range(first, last + 1):
        beta = beta_at(ep)
        perm = rng.permutation(N_TRAIN)
        tot, tce, tent, nb = 0.0, 0.0, 0.0, 0
        for i in range(0, N_TRAIN, BATCH):
            idx = mx.array(perm[i:i + BATCH])
            (obj, (ce, ent)), g = lg(model, Xtr[idx], Ytr[idx], beta)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, obj, ce, ent)
            tot += obj.item(); tce += ce.item(); tent += ent.item(); nb += 1
        vce, vacc, ece = evaluate(model)
        # epochs 3..6 of session 1 are not printed (quiet stretch), session 2 prints all
        if ep <= 2 or ep >= SPLIT_AT:
            print(f"{ep},{beta:.3f},{tot / nb:.4f},{tce / nb:.4f},{tent / nb:.4f},"
                  f"{vce:.4f},{vacc:.2f},{ece:.2f},{majority_pct:.2f}")


ckpt_dir = tempfile.mkdtemp(prefix="rig_ckpt_")
print("epoch,beta,objective,train_ce,train_entropy,val_ce,val_acc_pct,val_ece_pct,majority_pct")

# ---- session 1 --------------------------------------------------------------------
mx.random.seed(5)
model = RigNet()
opt = optim.Adagrad(learning_rate=0.05)
model.train()
vce0, vacc0, ece0 = evaluate(model)
print(f"0,0.000,,,,{vce0:.4f},{vacc0:.2f},{ece0:.2f},{majority_pct:.2f}")
run_epochs(model, opt, 1, SPLIT_AT - 1)
model.save_weights(os.path.join(ckpt_dir, "rig.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "rig_opt.safetensors"),
                    dict(tree_flatten(opt.state)))
print(f"# checkpoint after epoch {SPLIT_AT - 1} written to {os.path.basename(ckpt_dir)}")
w_saved = np.array(model.out.weight)
del model, opt

# ---- session 2: fresh objects, restored state -----------------------------------------
model = RigNet()
model.load_weights(os.path.join(ckpt_dir, "rig.safetensors"))
opt = optim.Adagrad(learning_rate=0.05)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "rig_opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"# resumed, head weight max diff vs saved {np.abs(np.array(model.out.weight) - w_saved).max():.1e}")
model.train()
run_epochs(model, opt, SPLIT_AT, EPOCHS)

vce, vacc, ece = evaluate(model)
print(f"# final val_acc_pct={vacc:.2f} (majority {majority_pct:.2f}) val_ce={vce:.4f} val_ece_pct={ece:.2f}")
