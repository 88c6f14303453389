"""Darkroom notebook: was a roll of black-and-white film under-, normally or
over-developed?  Judged from what the printer wrote down (developer temp,
time, dilution, agitation interval, box ISO, push stops, developer age).

Synthetic data from a made-up density law.  4-fold cross-validation, each fold
a fresh model (epoch counter restarts), SGD with Nesterov momentum, early
stopping on the validation error with the best weights restored.  The hidden
activation is a 'soft clip' whose backward pass is hand-written with
mx.custom_function.  Logging goes through the `logging` module.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s darkroom: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("darkroom")

mx.random.seed(11)
N = 4000
K = 4


def make_rolls(n):
    temp = 18 + 6 * mx.random.uniform(shape=(n,))           # deg C
    minutes = 5 + 9 * mx.random.uniform(shape=(n,))
    dil = mx.random.randint(0, 3, (n,)).astype(mx.float32)   # 1+1, 1+3, 1+9 stock
    agit = 30 + 30 * mx.random.uniform(shape=(n,))           # seconds between inversions
    iso = mx.array([100.0, 400.0, 3200.0])[mx.random.randint(0, 3, (n,))]
    push = mx.random.randint(0, 3, (n,)).astype(mx.float32)
    age = 60 * mx.random.uniform(shape=(n,))                 # days since mixed
    # made-up "development index": time and temperature push it up, dilution/age/agitation down
    dev = mx.log(minutes) * 1.8 + 0.09 * (temp - 20) - 0.35 * dil - 0.012 * (agit - 45)
    dev = dev - 0.008 * age - 0.45 * push + 0.12 * mx.log(iso / 400.0)
    dev = dev + 0.25 * mx.random.normal((n,))
    y = (dev > 3.0).astype(mx.int32) + (dev > 3.6).astype(mx.int32)   # 0 under, 1 normal, 2 over
    x = mx.stack([(temp - 21) / 1.7, (minutes - 9.5) / 2.6, dil - 1, (agit - 45) / 8.7,
                  mx.log(iso / 400.0), push - 1, (age - 30) / 17], axis=1)
    return x, y


X, Y = make_rolls(N)


@mx.custom_function
def soft_clip(x):
    return mx.tanh(x) + 0.1 * x


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals
    t = mx.tanh(x)
    return ((1 - t * t + 0.1) * cotangent,)


_probe = mx.linspace(-4, 4, 101)
_diff = mx.abs(mx.grad(lambda z: soft_clip(z).sum())(_probe)
               - mx.grad(lambda z: (mx.tanh(z) + 0.1 * z).sum())(_probe)).max()
log.info("vjp audit: max |custom - autodiff| over [-4, 4] = %.2e", float(_diff))


class RollJudge(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 40)
        self.b = nn.Linear(40, 40)
        self.c = nn.Linear(40, 3)

    def __call__(self, x):
        return self.c(soft_clip(self.b(soft_clip(self.a(x)))))


def xent(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def scores(m, x, y):
    pred = mx.argmax(m(x), axis=1)
    err = float((pred != y).mean()) * 100
    f1s = []
    for c in range(3):
        tp = float(((pred == c) & (y == c)).sum())
        fp = float(((pred == c) & (y != c)).sum())
        fn = float(((pred != c) & (y == c)).sum())
        f1s.append(2 * tp / max(1.0, 2 * tp + fp + fn))
    return err, sum(f1s) / 3


perm = mx.random.permutation(N)
folds = [perm[i::K] for i in range(K)]
counts = [int((Y == c).sum()) for c in range(3)]
log.info("rolls %d  under/normal/over %s  majority-class err %.1f%%", N, counts,
         100 * (1 - max(counts) / N))

t0 = time.time()
summary = []
for f in range(K):
    va = folds[f]
    tr = mx.concatenate([folds[j] for j in range(K) if j != f])
    xtr, ytr, xva, yva = X[tr], Y[tr], X[va], Y[va]
    model = RollJudge()
    opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, xent)
    best, best_ep, best_w, bad = 1e9, 0, None, 0
    err0, f10 = scores(model, xva, yva)
    log.info("fold %d/%d epoch %3d  xent %.4f  err %.2f%%  macroF1 %.3f", f + 1, K, 0,
             float(xent(model, xva, yva)), err0, f10)
    for ep in range(1, 201):
        p = mx.random.permutation(xtr.shape[0])
        for b in range(0, xtr.shape[0], 100):
            s = p[b:b + 100]
            loss, g = vg(model, xtr[s], ytr[s])
            opt.update(model, g)
            mx.eval(loss, model.parameters(), opt.state)
        vl = float(xent(model, xva, yva))
        err, f1 = scores(model, xva, yva)
        if ep % 10 == 0 or ep == 1:
            log.info("fold %d/%d epoch %3d  xent %.4f  err %.2f%%  macroF1 %.3f", f + 1, K, ep, vl, err, f1)
        if vl < best - 1e-4:
            best, best_ep, bad = vl, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
            if bad >= 12:
                log.warning("fold %d: no val improvement for 12 epochs, stopping at %d (best %d)",
                            f + 1, ep, best_ep)
                break
    model.update(best_w)
    mx.eval(model.parameters())
    err, f1 = scores(model, xva, yva)
    log.info("fold %d restored epoch %d: xent %.4f err %.2f%% macroF1 %.3f", f + 1, best_ep,
             float(xent(model, xva, yva)), err, f1)
    summary.append((best, err, f1))

me = sum(s[1] for s in summary) / K
mf = sum(s[2] for s in summary) / K
mxe = sum(s[0] for s in summary) / K
log.info("CV over %d folds: xent %.4f | err %.2f%% | macroF1 %.3f | %.1fs", K, mxe, me, mf, time.time() - t0)
