"""Groundsman's pitch-prep log <-> ball-tracking bounce signature, matched CLIP-style.

Each pitch-day has a prep log (rolling, watering, mowing, sun, cover, ...) and a
ball-tracking summary from the first session (bounce height, seam movement,
pace off the pitch, spin turn, ...). Two small encoders are trained with a
symmetric InfoNCE loss and a learned temperature so the right log is retrieved
for a bounce signature.

Stage "probe": the tracking encoder is kept frozen at its random init and only the
prep-log encoder + temperature learn. Stage "thaw": everything trains with a new
optimizer. Early stopping on validation recall@1 with the best weights restored.
"""
import json
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s groundstaff | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pitch")

rng = np.random.default_rng(1381)
LATENT = 6


def pitch_days(n):
    z = rng.normal(size=(n, LATENT))            # hidden pitch character
    A = rng.normal(size=(LATENT, 10)) * 0.8     # prep log: mostly linear
    B = rng.normal(size=(LATENT, 12)) * 0.8     # tracking: non-linear view
    prep = z @ A + 0.35 * rng.normal(size=(n, 10))
    track = np.tanh(z @ B) + 0.5 * (z @ B) ** 2 / 4 + 0.35 * rng.normal(size=(n, 12))
    return prep.astype(np.float32), track.astype(np.float32)


# one draw, then split, so both splits share the same projections
allp, allt = pitch_days(3512)
prep_tr, track_tr = allp[:3000], allt[:3000]
prep_va, track_va = allp[3000:], allt[3000:]
pm, ps = prep_tr.mean(0), prep_tr.std(0)
tm, ts = track_tr.mean(0), track_tr.std(0)
P_tr = mx.array((prep_tr - pm) / ps)
T_tr = mx.array((track_tr - tm) / ts)
P_va = mx.array((prep_va - pm) / ps)
T_va = mx.array((track_va - tm) / ts)


class Tower(nn.Module):
    def __init__(self, d_in, d_out=16):
        super().__init__()
        self.fc1 = nn.Linear(d_in, 64)
        self.fc2 = nn.Linear(64, d_out)

    def __call__(self, x):
        h = self.fc2(nn.gelu(self.fc1(x)))
        return h / mx.linalg.norm(h, axis=-1, keepdims=True)


class PitchClip(nn.Module):
    def __init__(self):
        super().__init__()
        self.prep = Tower(10)
        self.track = Tower(12)
        self.log_scale = mx.array(math.log(1 / 0.2))

    def __call__(self, p, t):
        return mx.exp(self.log_scale) * (self.prep(p) @ self.track(t).T)


def info_nce(model, p, t):
    logits = model(p, t)
    labels = mx.arange(p.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def recall_at_1(model):
    sims = model(P_va, T_va)
    hit = mx.argmax(sims, axis=1) == mx.arange(P_va.shape[0])
    return 100.0 * mx.mean(hit).item()


def grad_norms(grads):
    out = {}
    for k, g in tree_flatten(grads):
        tower = k.split(".")[0]
        out[tower] = out.get(tower, 0.0) + float(mx.sum(g * g).item())
    return {k: round(math.sqrt(v), 4) for k, v in out.items()}


mx.random.seed(7)
model = PitchClip()
BATCH = 256
chance = 100.0 / P_va.shape[0]
best = {"recall": -1.0, "params": None, "where": None}

STAGES = [("probe", 12, 3e-3, True), ("thaw", 40, 1e-3, False)]
for stage, max_epochs, lr, freeze_track in STAGES:
    model.unfreeze()
    if freeze_track:
        model.track.freeze()
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.01)
    vg = nn.value_and_grad(model, info_nce)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("stage=%s trainable=%d lr=%.0e", stage, n_train, lr)
    patience, bad = 6, 0
    for epoch in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(P_tr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, P_tr.shape[0] - BATCH + 1, BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = vg(model, P_tr[idx], T_tr[idx])
            if epoch == 1 and i == 0:
                log.info("audit grad-norm by tower: %s", json.dumps(grad_norms(grads)))
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        r1 = recall_at_1(model)
        temp = 1.0 / math.exp(model.log_scale.item())
        log.info(json.dumps({"stage": stage, "epoch": epoch, "nce": round(tot / nb, 4),
                             "r@1": round(r1, 2), "chance": round(chance, 2),
                             "tau": round(temp, 4)}))
        if r1 > best["recall"]:
            best = {"recall": r1,
                    "params": tree_map(lambda a: mx.array(a), model.parameters()),
                    "where": (stage, epoch)}
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                log.info("stage=%s early stop at epoch %d (no r@1 gain for %d epochs)",
                         stage, epoch, patience)
                break

model.update(best["params"])
mx.eval(model.parameters())
restored = recall_at_1(model)
diff = max(float(mx.max(mx.abs(a - b)).item())
           for (_, a), (_, b) in zip(tree_flatten(model.parameters()),
                                     tree_flatten(best["params"])))
log.info("restored best from %s epoch %d: r@1 %.2f%% (check %.2f%%, max|dw| %.1e)",
         best["where"][0], best["where"][1], best["recall"], restored, diff)
