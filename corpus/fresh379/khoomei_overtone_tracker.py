"""Khoomei overtone tracker: which overtone (harmonic 6..11 of the drone) is the
singer lifting, from one 64-bin log-magnitude spectrum frame.

Stage "studio": clean takes.  Stage "yurt": field recordings with breath
noise and room smear mixed in, a harder set on purpose.  Annotators
mislabelled about 18% of the training frames; validation labels were
re-checked by ear.  A running average of the weights is kept and scored
beside the raw weights.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

T0 = time.time()
rng = np.random.default_rng(5)
mx.random.seed(5)
NB, NCLS, FLIP = 64, 6, 0.18
bins = np.arange(NB, dtype=np.float32)


def frames(n, field):
    f0 = rng.uniform(2.6, 4.4, size=n)
    lift = rng.integers(0, NCLS, size=n)
    formant = rng.uniform(18, 46, size=n)
    formant_gain = rng.uniform(0.0, 2.5, size=n)
    spec = np.zeros((n, NB), np.float32)
    for h in range(1, 16):
        centre = h * f0
        amp = 1.0 / h ** 0.7
        amp = amp * (1.0 + formant_gain * np.exp(-0.5 * ((centre - formant) / 4.0) ** 2))
        amp = amp + np.where(h == lift + 6, rng.uniform(0.25, 0.9, size=n), 0.0)
        spec += amp[:, None] * np.exp(-0.5 * ((bins[None, :] - centre[:, None]) / 0.55) ** 2)
    if field:
        breath = rng.uniform(0.1, 0.4, size=(n, 1)) * np.exp(-bins / rng.uniform(20, 60, size=(n, 1)))
        spec = spec + breath
        k = np.array([0.25, 0.5, 0.25], np.float32)
        spec = np.stack([np.convolve(s, k, mode="same") for s in spec])
        spec = spec + 0.07 * rng.normal(size=spec.shape)
    else:
        spec = spec + 0.05 * rng.normal(size=spec.shape)
    logmag = np.log1p(np.maximum(spec, 0.0) * 8.0).astype(np.float32)
    return logmag, lift, f0


def noisy_labels(y):
    y = y.copy()
    flip = rng.random(len(y)) < FLIP
    y[flip] = rng.integers(0, NCLS, size=flip.sum())
    return y


def loudest_overtone_guess(logmag, f0):
    guess = []
    for row, f in zip(logmag, f0):
        vals = [row[min(NB - 1, int(round((h + 6) * f)))] for h in range(NCLS)]
        guess.append(int(np.argmax(vals)))
    return np.array(guess)


class Tracker(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 4, kernel_size=5, stride=2, padding=2)
        self.l1 = nn.Linear(4 * 32, 128)
        self.n1 = nn.LayerNorm(128)
        self.l2 = nn.Linear(128, 128)
        self.head = nn.Linear(128, NCLS)

    def __call__(self, x):
        h = nn.gelu(self.c1(x[..., None]))
        h = nn.gelu(self.n1(self.l1(h.reshape(h.shape[0], -1))))
        h = h + nn.gelu(self.l2(h))
        return self.head(h)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return 100.0 * float((mx.argmax(model(x), axis=-1) == y).mean())


model = Tracker()
shadow = Tracker()
mx.eval(model.parameters())
shadow.update(tree_map(lambda p: mx.array(p), model.parameters()))
mx.eval(shadow.parameters())
opt = optim.AdamW(learning_rate=1.5e-3, weight_decay=2e-2)
step_fn = nn.value_and_grad(model, xent)
EMA = 0.995

stages = [("studio", False, 6000, 6), ("yurt", True, 12000, 5)]
val_sets = {}
for name, field, _, _ in stages:
    xv, yv, fv = frames(2000, field)
    val_sets[name] = (mx.array(xv), mx.array(yv), xv, yv, fv)

print(f"khoomei | {NB}-bin frames, {NCLS} overtone classes (H6..H11), train label flips {FLIP:.0%}, chance {100 / NCLS:.1f}%")
rule_acc = {}
for name, (_, _, xv, yv, fv) in val_sets.items():
    rule_acc[name] = 100 * (loudest_overtone_guess(xv, fv) == yv).mean()
    print(f"khoomei | loudest-overtone rule on {name} val: {rule_acc[name]:.1f}%")

first = True
for name, field, n_train, n_ep in stages:
    xt, yt_clean, _ = frames(n_train, field)
    yt = noisy_labels(yt_clean)
    XT, YT = mx.array(xt), mx.array(yt)
    XV, YV = val_sets[name][0], val_sets[name][1]
    floor = -(1 - FLIP + FLIP / NCLS) * np.log(1 - FLIP + FLIP / NCLS) - (FLIP * (NCLS - 1) / NCLS) * np.log(FLIP / NCLS)
    print(f"khoomei | stage {name}: {n_train} frames, {n_ep} epochs, label-noise entropy floor {floor:.3f} nats")
    if first:
        loss, g = step_fn(model, XT[:128], YT[:128])
        norms = [float(mx.sqrt((v * v).sum())) for _, v in tree_flatten(g)]
        print(f"khoomei | first grad: {len(norms)} leaves, min norm {min(norms):.2e}, max {max(norms):.2e}")
        first = False
    print(" stage  ep |  train_x  |  val_x   raw_acc  avg_acc | studio_acc | secs")
    for ep in range(1, n_ep + 1):
        perm = mx.array(rng.permutation(n_train))
        tot, nb = 0.0, 0
        for i in range(0, n_train, 128):
            idx = perm[i:i + 128]
            loss, g = step_fn(model, XT[idx], YT[idx])
            opt.update(model, g)
            shadow.update(tree_map(lambda s, p: EMA * s + (1 - EMA) * p,
                                   shadow.parameters(), model.parameters()))
            mx.eval(model.parameters(), shadow.parameters(), opt.state, loss)
            tot += float(loss)
            nb += 1
        if name == "studio" and ep < n_ep:
            continue
        vx = float(xent(model, XV, YV))
        print(f" {name:6s} {ep:2d} |  {tot / nb:7.4f}  |  {vx:6.4f}   {accuracy(model, XV, YV):5.1f}%   "
              f"{accuracy(shadow, XV, YV):5.1f}% |   {accuracy(model, *val_sets['studio'][:2]):5.1f}%   | {time.time() - T0:5.1f}")

print(f"khoomei | done: yurt val {accuracy(shadow, *val_sets['yurt'][:2]):.1f}% (averaged weights; loudest rule {rule_acc['yurt']:.1f}%), "
      f"studio val {accuracy(shadow, *val_sets['studio'][:2]):.1f}%, chance {100 / NCLS:.1f}% | {time.time() - T0:.1f}s")
