# Perfumery lab: accord family (6 classes) from 10 GC-MS peak areas.
# Born-again lineage: a teacher on hard labels, then two generations of same-size students,
# each distilled from the previous generation's softened outputs (T=4) plus a little CE.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FAMILIES = ["citrus", "floral", "woody", "oriental", "fougere", "chypre"]
rng = np.random.default_rng(11)
centres = rng.normal(0, 1.0, (6, 10))
mix = rng.normal(0, 0.6, (10, 10))


def make(n):
    y = rng.choice(6, n, p=[0.22, 0.25, 0.18, 0.15, 0.1, 0.1])
    lat = centres[y] + rng.normal(0, 0.85, (n, 10))
    area = np.exp(0.5 * lat + 0.3 * np.tanh(lat @ mix))  # peak areas are positive, skewed
    X = np.log(area + 0.05).astype(np.float32)
    return X, y.astype(np.int32)


Xtr, ytr = make(6000)
Xva, yva = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd); Xva = mx.array((Xva - mu) / sd)
Ytr = mx.array(ytr); Yva = mx.array(yva)
T = 4.0


class Nose(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 96), nn.SiLU(), nn.Dropout(0.1),
                                 nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 6))

    def __call__(self, x):
        return self.net(x)


def loss_fn(model, x, y, soft, alpha):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    logp = nn.log_softmax(logits / T, axis=-1)
    kd = (soft * (mx.log(soft + 1e-9) - logp)).sum(-1).mean() * T * T
    return alpha * ce + (1 - alpha) * kd, (ce, kd)


def evaluate(model, ref_logits=None):
    model.eval()
    lg = model(Xva)
    nll = nn.losses.cross_entropy(lg, Yva, reduction="mean").item()
    pred = mx.argmax(lg, -1)
    acc = (pred == Yva).mean().item() * 100
    agree = None if ref_logits is None else (pred == mx.argmax(ref_logits, -1)).mean().item() * 100
    model.train()
    return nll, acc, agree


def train(gen, seed, parent, epochs=8, bs=100):
    mx.random.seed(seed)
    model = Nose()
    model.train()
    sched = optim.step_decay(2e-3, 0.5, 3 * (len(ytr) // bs))
    opt = optim.AdamW(learning_rate=sched, weight_decay=5e-4)
    if parent is None:
        soft_all = mx.zeros((len(ytr), 6)); alpha = 1.0; ref = None
    else:
        parent.eval()
        soft_all = mx.softmax(parent(Xtr) / T, axis=-1)
        ref = parent(Xva)
        alpha = 0.3
    mx.eval(soft_all)
    vg = nn.value_and_grad(model, loss_fn)
    order_rng = np.random.default_rng(seed)
    t0 = time.time()
    for ep in range(1, epochs + 1):
        idx = order_rng.permutation(len(ytr))
        s_tot = c_tot = k_tot = 0.0; nb = 0
        for i in range(0, len(ytr), bs):
            b = mx.array(idx[i:i + bs])
            (tot, (ce, kd)), g = vg(model, Xtr[b], Ytr[b], soft_all[b], alpha)
            if ep == 1 and i == 0:
                leaves = tree_flatten(g)
                nz = sum(1 for _, v in leaves if mx.abs(v).max().item() > 0)
                print(f"gen={gen} event=grad_check leaves={len(leaves)} nonzero={nz}")
            opt.update(model, g)
            mx.eval(tot, ce, kd, model.parameters(), opt.state)
            s_tot += tot.item(); c_tot += ce.item(); k_tot += kd.item(); nb += 1
        if ep in (1, 2, 3, 5, 8):
            nll, acc, agree = evaluate(model, ref)
            extra = "" if agree is None else f" agree_parent={agree:.1f}%"
            print(f"gen={gen} epoch={ep} lr={opt.learning_rate.item():.1e} objective={s_tot / nb:.4f} "
                  f"ce={c_tot / nb:.4f} kd={k_tot / nb:.4f} val_nll={nll:.4f} val_top1={acc:.1f}%{extra} "
                  f"secs={time.time() - t0:.1f}")
    return model


prior = np.bincount(ytr, minlength=6) / len(ytr)
print(f"event=data train={len(ytr)} valid={len(yva)} families={'/'.join(FAMILIES)} "
      f"majority_top1={(yva == prior.argmax()).mean() * 100:.1f}% prior_nll={-np.log(prior[yva]).mean():.4f}")
lineage = []
parent = None
for gen in range(3):
    model = train(gen, 1000 + gen, parent)
    nll, acc, _ = evaluate(model)
    lineage.append((gen, nll, acc))
    print(f"gen={gen} event=done val_nll={nll:.4f} val_top1={acc:.1f}%")
    parent = model
for gen, nll, acc in lineage:
    print(f"event=summary gen={gen} val_nll={nll:.4f} val_top1={acc:.1f}%")
