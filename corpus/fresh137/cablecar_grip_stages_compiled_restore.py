"""Aerial cable-car grip monitoring: 4-way fault typing (ok / grip slip /
sheave liner wear / rope strand break) from 10 synthetic station sensor readings.
Three stages: head-only (trunk frozen on purpose), full network, then a harder
stage with sensor-noise augmentation. Each stage gets its own compiled step,
its own Nesterov SGD and early stopping that restores the best weights."""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s grip| %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("grip")

rng = np.random.default_rng(20261126)
K = 4
NAMES = ["ok", "slip", "liner", "strand"]


def simulate(n):
    y = rng.choice(K, size=n, p=[0.55, 0.18, 0.17, 0.10])
    base = rng.normal(0, 1, (n, 10))
    # readings: grip force, clamp travel, vib rms, vib kurtosis, sheave temp,
    # rope speed err, tension, audio hf, wind, load
    base[y == 1, 0] -= 1.6
    base[y == 1, 1] += 1.2
    base[y == 1, 5] += 0.8 * base[y == 1, 9]
    base[y == 2, 4] += 1.3
    base[y == 2, 2] += 0.9
    base[y == 2, 7] += 0.5
    base[y == 3, 3] += 1.8 * np.abs(base[y == 3, 6])
    base[y == 3, 7] += 1.1
    base[:, 2] += 0.4 * base[:, 8]
    return base.astype(np.float32), y.astype(np.int32)


Xtr, ytr = simulate(6000)
Xva, yva = simulate(1500)
m, s = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - m) / s, (Xva - m) / s
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
Xva_m, yva_m = mx.array(Xva), mx.array(yva)
majority_err = 100.0 * (1 - np.bincount(yva, minlength=K).max() / len(yva))


class GripNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.head = nn.Linear(96, K)

    def __call__(self, x):
        return self.head(self.trunk(x))


mx.random.seed(3)
model = GripNet()
mx.eval(model.parameters())


def xent(mdl, xb, yb):
    return nn.losses.cross_entropy(mdl(xb), yb, reduction="mean")


def val_error():
    logits = model(Xva_m)
    pred = mx.argmax(logits, axis=1)
    err = 100.0 * float(mx.mean(pred != yva_m))
    vl = float(nn.losses.cross_entropy(logits, yva_m, reduction="mean"))
    per = []
    p = np.array(pred)
    for k in range(K):
        sel = yva == k
        per.append(100.0 * float((p[sel] == k).mean()))
    return err, vl, per


STAGES = [
    # name, trainable, lr, momentum, max_epochs, patience, aug_noise
    ("head", "head", 0.05, 0.9, 12, 3, 0.0),
    ("full", "all", 0.02, 0.9, 25, 4, 0.0),
    ("noisy", "all", 0.01, 0.9, 15, 4, 0.6),
]
BS = 100
trunk_ref = tree_map(lambda a: mx.array(a), model.trunk.parameters())

log.info("majority-class val error %.2f%% (reference)", majority_err)
for sname, which, lr, mom, max_ep, patience, noise in STAGES:
    model.unfreeze()
    if which == "head":
        model.trunk.freeze()
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    opt = optim.SGD(learning_rate=lr, momentum=mom, nesterov=True, weight_decay=1e-4)
    state = [model.state, opt.state, mx.random.state]
    vg = nn.value_and_grad(model, xent)

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(model, xb, yb)
        opt.update(model, grads)
        return loss

    # gradient check once per stage, outside the compiled step
    _, g0 = vg(model, Xtr_m[:BS], ytr_m[:BS])
    dead = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
    log.info("stage=%s trainable=%d params zero-grad=%s noise=%.1f", sname, n_train, dead or "none", noise)

    best = (float("inf"), None, -1)
    bad = 0
    for ep in range(1, max_ep + 1):
        perm = rng.permutation(len(Xtr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm), BS):
            idx = mx.array(perm[i:i + BS])
            xb = Xtr_m[idx]
            if noise > 0:
                xb = xb + noise * mx.random.normal(xb.shape)
            loss = step(xb, ytr_m[idx])
            mx.eval(state)
            tot += float(loss)
            nb += 1
        err, vl, per = val_error()
        log.info("stage=%s ep=%02d train_xent=%.4f val_xent=%.4f val_err=%.2f%% recall[%s]=%s",
                 sname, ep, tot / nb, vl, err, "/".join(NAMES),
                 "/".join(f"{r:.0f}" for r in per))
        if err < best[0] - 1e-9:
            best = (err, tree_map(lambda a: mx.array(a), model.parameters()), ep)
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                log.info("stage=%s early stop at ep=%d (best ep=%d)", sname, ep, best[2])
                break
    model.update(best[1])
    mx.eval(model.parameters())
    err, vl, _ = val_error()
    drift = sum(float(mx.sum((a - b) ** 2)) for (_, a), (_, b) in
                zip(tree_flatten(model.trunk.parameters()), tree_flatten(trunk_ref))) ** 0.5
    log.info("stage=%s restored best ep=%d val_err=%.2f%% trunk_drift_l2=%.4f", sname, best[2], err, drift)

err, vl, per = val_error()
print("FINAL  val_err%  val_xent  majority_err%")
print(f"       {err:6.2f}  {vl:8.4f}  {majority_err:6.2f}")
