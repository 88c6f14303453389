"""Epigraphy: recognise five hieroglyph-like signs on 12x12 photographed squeezes.

Signs (drawn in numpy): reed leaf, water ripple, mouth, loaf, horned viper.
Two stages:
  stage A - convolutional trunk kept frozen at its random init, only the
            linear head is trained (a linear probe);
  stage B - everything unfrozen, a fresh optimizer whose warmup again starts
            from lr = 0.
Mixup (alpha 0.4) is used in both stages, so the logged training loss is a
soft-target loss that stays high; validation uses an EMA copy of the weights
and hard labels.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

S = 12
SIGNS = ["reed", "water", "mouth", "loaf", "viper"]
rng = np.random.default_rng(11)


def glyph(k):
    g = np.zeros((S, S), np.float32)
    oy, ox = rng.integers(-1, 2, 2)
    if k == 0:  # reed leaf: tall slanted stroke with a tip
        for i in range(2, 10):
            g[i + oy, 5 + (i - 2) // 4 + ox] = 1
        g[2 + oy, 7 + ox] = g[3 + oy, 7 + ox] = 1
    elif k == 1:  # water ripple: three rows of small zigzags
        for r in (3, 6, 9):
            for c in range(1, 11):
                g[r + (c % 2) + oy - 1, c + ox] = 1
    elif k == 2:  # mouth: flat ellipse outline
        t = np.linspace(0, 2 * np.pi, 40)
        g[np.clip((5.5 + 2 * np.sin(t) + oy).round().astype(int), 0, S - 1),
          np.clip((5.5 + 4.5 * np.cos(t) + ox).round().astype(int), 0, S - 1)] = 1
    elif k == 3:  # loaf: half disc
        for c in range(2, 10):
            h = int(round(3 * np.sqrt(max(0.0, 1 - ((c - 5.5) / 4.0) ** 2))))
            g[8 - h + oy:9 + oy, c + ox] = 1
    else:  # viper: long horizontal body with horns
        g[7 + oy, 1 + ox:11 + ox] = 1
        g[6 + oy, 2 + ox] = g[5 + oy, 2 + ox] = g[5 + oy, 4 + ox] = 1
        g[8 + oy, 9 + ox:11 + ox] = 1
    light = rng.uniform(0.6, 1.2)
    return g * light + rng.normal(0, 0.3, (S, S)) + rng.uniform(-0.2, 0.2)


def make(n):
    y = rng.integers(0, 5, n)
    return np.stack([glyph(k) for k in y])[..., None].astype(np.float32), y.astype(np.int32)


xtr, ytr = make(1000)
xva, yva = make(300)
m, s = xtr.mean(), xtr.std()
xtr, xva = (xtr - m) / s, (xva - m) / s
xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
chance = np.bincount(np.array(yva)).max() / len(yva)


class SignNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        )
        self.head = nn.Linear(16 * 3 * 3, 5)

    def __call__(self, x):
        h = self.trunk(x)
        return self.head(h.reshape(h.shape[0], -1))


def mixup_loss(model, x, ya, yb, lam):
    logits = model(x)
    return (lam * nn.losses.cross_entropy(logits, ya, reduction="mean")
            + (1 - lam) * nn.losses.cross_entropy(logits, yb, reduction="mean"))


def ema_eval(ema_params):
    probe = SignNet()
    probe.update(ema_params)
    logits = probe(xva)
    acc = (mx.argmax(logits, axis=1) == yva).mean().item()
    ce = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
    return acc, ce


def trunk_norm(model):
    return sum(mx.sum(v * v).item() for _, v in tree_flatten(model.trunk.parameters())) ** 0.5


def stage(name, model, opt, epochs, ema, batch=50, decay=0.95):
    step = nn.value_and_grad(model, mixup_loss)
    n = xtr.shape[0]
    for ep in range(epochs):
        perm = rng.permutation(n)
        tot = []
        for i in range(n // batch):
            idx = perm[i * batch:(i + 1) * batch]
            lam = float(rng.beta(0.4, 0.4))
            partner = rng.permutation(idx)
            xa, xb = xtr[mx.array(idx)], xtr[mx.array(partner)]
            x = lam * xa + (1 - lam) * xb
            loss, g = step(model, x, ytr[mx.array(idx)], ytr[mx.array(partner)], lam)
            opt.update(model, g)
            ema = tree_map(lambda e, p: decay * e + (1 - decay) * p, ema, model.parameters())
            mx.eval(model.parameters(), opt.state, ema)
            tot.append(loss.item())
        if ep % 2 == 1 or ep == epochs - 1:
            acc, ce = ema_eval(ema)
            print(f"[{name}] epoch {ep + 1}/{epochs}  mixup_loss {np.mean(tot):.3f}  "
                  f"ema val_ce {ce:.3f}  ema val_acc {acc:.3f}  (chance {chance:.3f})  "
                  f"lr {opt.learning_rate.item():.4f}  trunk_norm {trunk_norm(model):.4f}")
    return ema


t0 = time.time()
mx.random.seed(5)
model = SignNet()
mx.eval(model.parameters())
ema = tree_map(lambda p: mx.array(p), model.parameters())

model.trunk.freeze()
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"stage A: {n_tr} of {n_all} parameters trainable (trunk frozen), trunk_norm {trunk_norm(model):.4f}")
opt_a = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-2, 20), optim.cosine_decay(1e-2, 100)], [20]))
ema = stage("A probe", model, opt_a, 6, ema)

model.unfreeze()
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"stage B: {n_tr} of {n_all} parameters trainable; new optimizer, warmup from 0 again")
opt_b = optim.AdamW(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, 200, 1e-4)], [40]),
    weight_decay=1e-3)
ema = stage("B full", model, opt_b, 10, ema)

acc, ce = ema_eval(ema)
probe = SignNet()
probe.update(ema)
pred = np.array(mx.argmax(probe(xva), axis=1))
yv = np.array(yva)
print("final ema val_acc %.3f val_ce %.3f | %s" % (acc, ce, "  ".join(
    f"{nm} {np.mean(pred[yv == k] == k):.2f}" for k, nm in enumerate(SIGNS))))
print(f"wall {time.time() - t0:.1f}s")
