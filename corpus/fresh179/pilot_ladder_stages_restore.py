"""Harbour pilot station: will a pilot boarding by ladder be called off?
0 = board, 1 = delay, 2 = abort.  Stage 'calm' uses only calm-sea transfers,
stage 'all' adds the rough ones (harder, noisier), with the trunk frozen on
purpose and early stopping that restores the best weights."""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(format="%(asctime)s %(levelname)s pilot: %(message)s",
                    level=logging.INFO, datefmt="%H:%M:%S")
log = logging.getLogger()
rng = np.random.default_rng(2024)

def sea(n):
    hs = rng.gamma(2.0, 0.8, n)                 # significant wave height m
    wind = rng.uniform(0, 40, n)                # kn
    speed = rng.uniform(4, 12, n)               # ship speed kn
    lee = rng.integers(0, 2, n)                 # lee made?
    freeboard = rng.uniform(2, 9, n)            # m
    dark = rng.integers(0, 2, n)
    z = (1.3 * hs + 0.05 * wind - 1.2 * lee + 0.15 * np.abs(speed - 8)
         + 0.12 * np.maximum(freeboard - 6, 0) * hs + 0.4 * dark - 3.0)
    logits = np.stack([-z, 0.3 * np.ones(n), z - 1.5], 1) * 1.6
    p = np.exp(logits - logits.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    X = np.stack([hs, wind / 20, speed / 8, lee, freeboard / 5, dark], 1).astype(np.float32)
    return X, y.astype(np.int32), hs

Xa, ya, hsa = sea(9000)
Xv, yv, _ = sea(2000)
calm = hsa < 1.2
log.info("calm transfers %d of %d (%.0f%%)", calm.sum(), len(hsa), 100 * calm.mean())
Xv_m, yv_m = mx.array(Xv), mx.array(yv)

class Ladder(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh())
        self.head = nn.Linear(48, 3)
    def __call__(self, x):
        return self.head(self.trunk(x))

def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def kappa(pred, y):
    cm = np.zeros((3, 3))
    np.add.at(cm, (y, pred), 1)
    po = np.trace(cm) / cm.sum()
    pe = (cm.sum(0) * cm.sum(1)).sum() / cm.sum() ** 2
    return (po - pe) / (1 - pe)

model = Ladder()
mx.eval(model.parameters())
vg = nn.value_and_grad(model, xent)
velocity = tree_map(mx.zeros_like, model.trainable_parameters())

def sgd_momentum(grads, lr, mom=0.9):
    global velocity
    velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
    model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity))

for stage, mask, lr, epochs in [("calm", calm, 0.05, 8), ("all", np.ones_like(calm), 0.02, 30)]:
    X, y = mx.array(Xa[mask]), mx.array(ya[mask])
    if stage == "all":
        model.trunk.freeze()                      # keep the calm-sea features, retune the head
        velocity = tree_map(mx.zeros_like, model.trainable_parameters())
        ng = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
        log.info("stage all: trunk frozen, %d trainable weights", ng)
    best, best_w, bad = float("inf"), None, 0
    n = X.shape[0]
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for s in range(0, n, 64):
            idx = perm[s:s + 64]
            loss, g = vg(model, X[idx], y[idx])
            if ep == 1 and s == 0:
                zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
                log.info("grad audit %s: %d tensors, zero-grad %s", stage, len(tree_flatten(g)), zero)
            sgd_momentum(g, lr)
            mx.eval(model.parameters(), velocity, loss)
            tot += loss.item() * idx.shape[0]
        logits = model(Xv_m)
        vl = xent(model, Xv_m, yv_m).item()
        pred = np.array(mx.argmax(logits, 1))
        miss = 100 * (pred != yv).mean()
        log.info("%s ep %02d | nll %.4f / %.4f | miss %.1f%% | kappa %.3f",
                 stage, ep, tot / n, vl, miss, kappa(pred, yv))
        if vl < best - 1e-4:
            best, bad = vl, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= 4:
                log.info("%s: no gain for 4 epochs, stopping at ep %d", stage, ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    log.info("%s: restored best val nll %.4f", stage, best)

pred = np.array(mx.argmax(model(Xv_m), 1))
prior = np.bincount(ya, minlength=3) / len(ya)
log.info("final: miss %.1f%% (majority class miss %.1f%%), kappa %.3f",
         100 * (pred != yv).mean(), 100 * (1 - prior.max()), kappa(pred, yv))
