"""Roll-of-arms digitisation: tell the heraldic ordinary on a scanned shield.

Each shield is a 12x12 grey raster (field tincture vs ordinary tincture, with
scan blur, stains and uneven lighting).  Features are the 12 row means, 12
column means and the 2x11 diagonal-band means of the raster.  Five classes:
pale, fess, bend, bend sinister, chevron.  5-fold cross-validation; every fold
restarts its own learning-rate warmup at exactly 0, trains with a compiled
Nesterov-SGD step, early-stops on the held-out fold and restores the best
weights before the fold is scored.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_map

logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S", level=logging.INFO)
log = logging.getLogger("rollofarms")

S = 12
ORDINARIES = ["pale", "fess", "bend", "bend-sin", "chevron"]
gen = np.random.default_rng(1307)
mx.random.seed(1307)


def draw_shield(kind):
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    w = gen.uniform(1.6, 3.2)
    if kind == 0:
        m = np.abs(xx - (S - 1) / 2) < w
    elif kind == 1:
        m = np.abs(yy - (S - 1) / 2) < w
    elif kind == 2:
        m = np.abs(xx - yy) < w * 1.2
    elif kind == 3:
        m = np.abs(xx + yy - (S - 1)) < w * 1.2
    else:
        m = np.abs(yy - (S - 1) * 0.75 + np.abs(xx - (S - 1) / 2)) < w
    field, charge = gen.uniform(0.0, 1.0, size=2)
    if abs(field - charge) < 0.25:
        charge = (field + 0.5) % 1.0
    img = np.where(m, charge, field)
    img = img + gen.normal(0, 0.22, size=img.shape)            # scan noise
    img = img + gen.uniform(-0.3, 0.3) * (xx / S)             # uneven lighting
    if gen.random() < 0.4:                                    # ink stain
        cy, cx = gen.integers(0, S, size=2)
        img = img + 0.8 * ((yy - cy) ** 2 + (xx - cx) ** 2 < 4)
    return img


def features(img):
    d1 = [np.mean(np.diagonal(img, k)) for k in range(-5, 6)]
    d2 = [np.mean(np.diagonal(img[:, ::-1], k)) for k in range(-5, 6)]
    f = np.concatenate([img.mean(1), img.mean(0), d1, d2])
    return (f - f.mean()) / (f.std() + 1e-6)


N = 1500
labels = gen.integers(0, 5, size=N)
X = np.stack([features(draw_shield(k)) for k in labels]).astype(np.float32)
Y = labels.astype(np.int32)
log.info("roll of arms: %d shields, %d features, class counts %s", N, X.shape[1],
         np.bincount(Y).tolist())


class Herald(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.a = nn.Linear(d, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 5)

    def __call__(self, x):
        return self.c(nn.relu(self.b(nn.relu(self.a(x)))))


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


folds = np.array_split(gen.permutation(N), 5)
fold_acc = []
majority = []
for k in range(5):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(5) if j != k])
    xtr, ytr = mx.array(X[tr]), mx.array(Y[tr])
    xva, yva = mx.array(X[va]), mx.array(Y[va])

    model = Herald(X.shape[1])
    warm = optim.linear_schedule(0.0, 0.08, 60)            # starts at exactly 0
    sched = optim.join_schedules([warm, optim.cosine_decay(0.08, 900, 0.004)], [60])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
    grad_fn = nn.value_and_grad(model, ce)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, g = grad_fn(model, x, y)
        opt.update(model, g)
        return loss

    best, best_ep, best_w, patience = 1e9, 0, None, 0
    step_no = 0
    log.info("fold %d/5: train %d  held-out %d  lr at step 0 = %.4f", k + 1, len(tr), len(va),
             float(sched(mx.array(0))))
    for ep in range(1, 41):
        perm = gen.permutation(len(tr))
        run = 0.0
        for i in range(0, len(tr), 40):
            idx = mx.array(perm[i:i + 40])
            loss = train_step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            run += loss.item()
            step_no += 1
        model.eval()
        vl = ce(model, xva, yva).item()
        acc = float(mx.mean(mx.argmax(model(xva), axis=1) == yva).item())
        model.train()
        if vl < best - 1e-4:
            best, best_ep, patience = vl, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
        if ep % 5 == 0 or patience == 0 and ep <= 2:
            log.info("fold %d ep %02d step %4d lr %.4f train_ce %.4f heldout_ce %.4f acc %.1f%%",
                     k + 1, ep, step_no, opt.learning_rate.item(), run / (len(tr) / 40), vl, 100 * acc)
        if patience >= 6:
            log.info("fold %d: no held-out gain for 6 epochs, stopping at ep %d", k + 1, ep)
            break
    model.update(best_w)
    mx.eval(model.parameters())
    model.eval()
    acc = float(mx.mean(mx.argmax(model(xva), axis=1) == yva).item())
    vl = ce(model, xva, yva).item()
    maj = np.max(np.bincount(Y[va], minlength=5)) / len(va)
    log.info("fold %d restored ep %d weights: heldout_ce %.4f (best %.4f, diff %.1e) acc %.1f%% "
             "(majority-class %.1f%%)", k + 1, best_ep, vl, best, abs(vl - best), 100 * acc, 100 * maj)
    fold_acc.append(acc)
    majority.append(maj)

print()
print("fold | accuracy | majority baseline")
for k, (a, m) in enumerate(zip(fold_acc, majority), 1):
    print(f"  {k}  |  {100 * a:5.1f}%  |  {100 * m:5.1f}%")
print(f"mean |  {100 * np.mean(fold_acc):5.1f}%  |  {100 * np.mean(majority):5.1f}%   (sd {100 * np.std(fold_acc):.1f})")
