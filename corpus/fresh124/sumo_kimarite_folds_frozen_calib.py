"""Sumo stable analytics: which winning technique (kimarite) ends a bout,
from pre-bout and tachiai readings.  3-fold cross-validation, SGD+Nesterov,
early stopping with restore of the best epoch, frozen vendor calibration layer."""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kimarite")

KIMARITE = ["oshidashi", "yorikiri", "hatakikomi", "uwatenage"]
rng = np.random.default_rng(11)
N = 3600

wdiff = rng.normal(0, 18, N)          # kg, winner minus loser
hdiff = rng.normal(0, 6, N)           # cm
rankdiff = rng.integers(-8, 9, N).astype(float)
belt = (rng.random(N) < 0.45).astype(float)   # got a mawashi grip at tachiai
speed = rng.normal(0, 1, N)           # tachiai speed difference, m/s (std)
stance = rng.normal(0, 1, N)          # stance width, std
rest = rng.integers(1, 16, N).astype(float)  # day of the basho
agediff = rng.normal(0, 4, N)
X = np.stack([wdiff, hdiff, rankdiff, belt, speed, stance, rest, agediff], 1)
score = np.stack([
    0.05 * wdiff + 1.2 * speed - 1.5 * belt,                          # push out
    0.04 * wdiff + 2.2 * belt - 0.3 * speed + 0.3 * stance,           # belt force out
    -0.06 * wdiff + 0.8 * np.tanh(-speed * 2) + 0.1 * hdiff - 0.2,    # slap down
    1.6 * belt * (hdiff > 0) + 0.05 * rankdiff - 0.02 * agediff - 0.6,  # overarm throw
], 1)
y = np.argmax(score + rng.gumbel(size=score.shape) * 0.8, 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
print("class shares:", {k: f"{100 * np.mean(y == i):.0f}%" for i, k in enumerate(KIMARITE)})


class BoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(8, 8)          # vendor sensor calibration, fixed
        self.h1 = nn.Linear(8, 48)
        self.h2 = nn.Linear(48, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        x = self.calib(x)
        x = nn.silu(self.h1(x))
        x = nn.silu(self.h2(x))
        return self.head(x)


def make_model(seed):
    mx.random.seed(seed)
    m = BoutNet()
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(8, 8)))
    m.calib.weight = mx.array(q.astype(np.float32))
    m.calib.bias = mx.zeros((8,))
    m.calib.freeze()
    return m


def losses(m, x, t):
    logits = m(x)
    xent = nn.losses.cross_entropy(logits, t, reduction="mean")
    smooth = nn.losses.cross_entropy(logits, t, label_smoothing=0.1, reduction="mean")
    return smooth, xent


def objective(m, x, t):
    return losses(m, x, t)[0]


folds = np.array_split(rng.permutation(N), 3)
summary = []
for k in range(3):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(3) if j != k])
    Xtr, ytr = mx.array(X[tr_idx]), mx.array(y[tr_idx])
    Xva, yva = mx.array(X[va_idx]), mx.array(y[va_idx])
    model = make_model(100 + k)
    calib0 = np.array(model.calib.weight)
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, objective)
    _, g = vg(model, Xtr[:256], ytr[:256])
    norms = {n: float(mx.linalg.norm(v)) for n, v in tree_flatten(g)}
    log.info("fold %d audit: %d trainable tensors, min |g| %.2e, calib trainable: %s",
             k + 1, len(norms), min(norms.values()), any(n.startswith("calib") for n in norms))
    assert min(norms.values()) > 0
    best, best_ep, best_w, wait = float("inf"), -1, None, 0
    for ep in range(1, 61):
        perm = rng.permutation(len(tr_idx))
        tot_s = tot_x = 0.0
        nb = 0
        for b in range(0, len(perm), 120):
            idx = mx.array(perm[b:b + 120])
            (ls), grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(ls, model.parameters(), opt.state)
            tot_s += ls.item()
            nb += 1
        vs, vx = losses(model, Xva, yva)
        acc = float((model(Xva).argmax(-1) == yva).mean())
        log.info("fold=%d ep=%02d train_smooth=%.4f val_xent=%.4f val_smooth=%.4f acc=%.1f%% err=%.1f%%",
                 k + 1, ep, tot_s / nb, vx.item(), vs.item(), 100 * acc, 100 * (1 - acc))
        if vx.item() < best - 1e-4:
            best, best_ep, wait = vx.item(), ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.trainable_parameters())
            mx.eval(best_w)
        else:
            wait += 1
            if wait >= 6:
                log.info("fold=%d early stop at ep %d (no val_xent gain for 6 epochs)", k + 1, ep)
                break
    model.update(best_w)
    vs, vx = losses(model, Xva, yva)
    acc = float((model(Xva).argmax(-1) == yva).mean())
    drift = float(np.abs(np.array(model.calib.weight) - calib0).max())
    log.info("fold=%d restored ep %d: val_xent=%.4f acc=%.1f%% calib drift=%.1e",
             k + 1, best_ep, vx.item(), 100 * acc, drift)
    summary.append((k + 1, best_ep, vx.item(), acc))

majority = max(np.mean(y == i) for i in range(4))
print("\nfold | best ep | val xent | accuracy | majority")
for f, e, vx, a in summary:
    print(f"  {f}  |   {e:3d}   |  {vx:.4f}  |  {100 * a:5.1f}%  |  {100 * majority:.1f}%")
print(f"mean |         |  {np.mean([s[2] for s in summary]):.4f}  |  "
      f"{100 * np.mean([s[3] for s in summary]):5.1f}%  |  (ln 4 = {np.log(4):.4f})")
