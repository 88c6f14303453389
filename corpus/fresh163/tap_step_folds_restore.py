"""Tap dance: which step was danced (shuffle / flap / paradiddle / cramp roll)
from a 40-sample onset envelope picked up by a shoe-mounted contact mic.
3-fold cross-validation, SGD+Nesterov, early stopping that restores the best weights."""
import logging, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tapcv: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger()
rng = np.random.default_rng(9164)
mx.random.seed(9164)

T = 40
STEPS = {"shuffle": [0, 3], "flap": [0, 2], "paradiddle": [0, 4, 7, 10], "cramp_roll": [0, 2, 4, 6]}
NAMES = list(STEPS)

def dance(n):
    X = np.zeros((n, T), np.float32); y = rng.integers(0, 4, n)
    for i in range(n):
        tempo = rng.uniform(0.8, 1.3); start = rng.integers(2, 12)
        for k, off in enumerate(STEPS[NAMES[y[i]]]):
            t = start + off * tempo + rng.normal(0, 0.5)
            amp = rng.uniform(0.6, 1.2) * (1.3 if k == 0 else 1.0)
            X[i] += amp * np.exp(-0.5 * ((np.arange(T) - t) / 0.9) ** 2)
        X[i] += rng.normal(0, 0.12, T) + rng.uniform(0, 0.2)   # floor noise + hum
    return X, y.astype(np.int32)

X, Y = dance(1500)
folds = np.array_split(rng.permutation(len(X)), 3)

class TapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, 5, padding=2)
        self.c2 = nn.Conv1d(12, 16, 5, padding=2)
        self.fc = nn.Linear(16 * 10, 4)
    def __call__(self, x):
        h = nn.relu(self.c1(x[..., None]))
        h = nn.relu(self.c2(h))
        h = h.reshape(h.shape[0], 10, 4, 16).max(axis=2)      # pool 4 -> 10 frames
        return self.fc(h.reshape(h.shape[0], -1))

def ce(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

def scores(m, xb, yb):
    pred = np.array(mx.argmax(m(xb), axis=1)); yt = np.array(yb)
    err = 100.0 * (pred != yt).mean()
    f1s = []
    for c in range(4):
        tp = ((pred == c) & (yt == c)).sum(); fp = ((pred == c) & (yt != c)).sum(); fn = ((pred != c) & (yt == c)).sum()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return err, float(np.mean(f1s)), float(ce(m, xb, yb))

summary = []
t0 = time.time()
for f in range(3):
    va = folds[f]; tr = np.concatenate([folds[j] for j in range(3) if j != f])
    xtr, ytr = mx.array(X[tr]), mx.array(Y[tr]); xva, yva = mx.array(X[va]), mx.array(Y[va])
    model = TapNet(); mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    vg = nn.value_and_grad(model, ce)
    if f == 0:
        _, g = vg(model, xtr[:64], ytr[:64])
        norms = {k: float(mx.sqrt((v * v).sum())) for k, v in tree_flatten(g)}
        log.info("grad check fold0: %d tensors, smallest |g| %.2e (%s)", len(norms), min(norms.values()), min(norms, key=norms.get))
    best, best_ep, best_w, patience = 1e9, -1, None, 0
    for ep in range(1, 41):
        perm = rng.permutation(len(tr)); tl = 0.0; nb = 0
        for s in range(0, len(tr) - 31, 32):
            idx = mx.array(perm[s:s + 32])
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g); mx.eval(model.parameters(), opt.state, loss)
            tl += loss.item(); nb += 1
        err, mf1, vl = scores(model, xva, yva)
        if ep % 4 == 0 or ep == 1:
            log.info("fold %d ep %02d  train_ce %.4f  val_ce %.4f  err %.1f%%  macroF1 %.3f", f, ep, tl / nb, vl, err, mf1)
        if vl < best - 1e-4:
            best, best_ep, patience = vl, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            patience += 1
            if patience >= 6:
                log.info("fold %d: no val_ce gain for 6 epochs, stop at ep %d", f, ep)
                break
    model.update(best_w); mx.eval(model.parameters())
    err, mf1, vl = scores(model, xva, yva)
    log.info("fold %d restored ep %d: val_ce %.4f err %.1f%% macroF1 %.3f", f, best_ep, vl, err, mf1)
    summary.append((f, best_ep, vl, err, mf1))

print("\nfold | best_ep | val_ce | err% | macroF1")
for r in summary:
    print("%4d | %7d | %6.4f | %4.1f | %.3f" % r)
print("mean |    -    | %6.4f | %4.1f | %.3f   (chance err 75.0%%, %.1fs)" % (
    np.mean([r[2] for r in summary]), np.mean([r[3] for r in summary]), np.mean([r[4] for r in summary]), time.time() - t0))
