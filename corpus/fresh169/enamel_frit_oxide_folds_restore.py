"""Cloisonne enamel studio: guess the colouring oxide of a fired enamel test
chip from a 12-band reflectance spectrum (cobalt / copper / gold pink /
iron amber / manganese / tin white).  4-fold cross validation, early
stopping with restore."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s frittest: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("frittest")

OXIDES = ["cobalt", "copper", "gold", "iron", "manganese", "tin_white"]
BANDS = np.linspace(400, 700, 12)  # nm
rng = np.random.default_rng(169)


def make_chips(n):
    # absorption centres (nm) and widths per oxide, tin-white chips scatter flat
    centre = {0: 590, 1: 650, 2: 530, 3: 440, 4: 520, 5: None}
    width = {0: 50, 1: 70, 2: 35, 3: 60, 4: 80, 5: None}
    y = rng.integers(0, 6, n)
    X = np.zeros((n, 12), np.float32)
    for i in range(n):
        thick = rng.uniform(2, 5)  # firing layers
        conc = rng.uniform(0.3, 1.0)
        c = centre[int(y[i])]
        if c is None:
            absorb = 0.05 * np.ones(12)
        else:
            c = c + rng.normal(0, 12)
            absorb = conc * np.exp(-0.5 * ((BANDS - c) / width[int(y[i])]) ** 2)
        T = np.exp(-thick * absorb * 0.6) * rng.uniform(0.8, 0.95)
        T = T + rng.normal(0, 0.03, 12)
        X[i] = np.clip(T, 0.0, 1.0)
    return X, y.astype(np.int32)


X_all, y_all = make_chips(1600)
X_all = (X_all - X_all.mean(0)) / (X_all.std(0) + 1e-6)


class FritNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.sketch = nn.Linear(12, 48)   # fixed random projection, frozen on purpose
        self.hidden = nn.Linear(48, 32)
        self.head = nn.Linear(32, 6)

    def __call__(self, x):
        h = mx.cos(self.sketch(x))
        h = nn.gelu(self.hidden(h))
        return self.head(h)


def loss_fn(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def err_pct(model, X, y):
    pred = mx.argmax(model(X), axis=1)
    return 100.0 * (1.0 - mx.mean(pred == y).item())


folds = np.array_split(rng.permutation(len(y_all)), 4)
summary = []
for k in range(4):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    Xtr, ytr = mx.array(X_all[tr]), mx.array(y_all[tr])
    Xva, yva = mx.array(X_all[va]), mx.array(y_all[va])

    mx.random.seed(100 + k)
    model = FritNet()
    model.sketch.freeze()
    sketch_before = mx.array(model.sketch.weight)
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
    step = nn.value_and_grad(model, loss_fn)

    best, best_ep, best_state, patience = float("inf"), -1, None, 0
    for ep in range(1, 61):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for s in range(0, len(tr), 64):
            idx = perm[s:s + 64]
            loss, grads = step(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        if ep == 1 and k == 0:
            gn = {n: float(mx.sum(g * g).item()) for n, g in tree_flatten(grads)}
            log.info("grad check fold 1: %s", " ".join(f"{n}={math.sqrt(v):.3g}" for n, v in gn.items()))
        vloss = loss_fn(model, Xva, yva).item()
        verr = err_pct(model, Xva, yva)
        if ep % 5 == 0 or ep == 1:
            log.info("fold %d/4 ep %02d train_xent %.4f val_xent %.4f val_err %.1f%%",
                     k + 1, ep, tot / len(tr), vloss, verr)
        if vloss < best - 1e-4:
            best, best_ep, patience = vloss, ep, 0
            best_state = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_state)
        else:
            patience += 1
            if patience >= 8:
                log.info("fold %d/4 stopping at ep %d, no val gain since ep %d", k + 1, ep, best_ep)
                break
    model.update(best_state)
    mx.eval(model.parameters())
    drift = mx.max(mx.abs(model.sketch.weight - sketch_before)).item()
    fe = err_pct(model, Xva, yva)
    log.info("fold %d/4 restored ep %d: val_xent %.4f val_err %.1f%% (chance 83.3%%) frozen sketch drift %.2e",
             k + 1, best_ep, loss_fn(model, Xva, yva).item(), fe, drift)
    summary.append(fe)

log.info("cv val_err mean %.2f%% sd %.2f%% over 4 folds", float(np.mean(summary)), float(np.std(summary)))
