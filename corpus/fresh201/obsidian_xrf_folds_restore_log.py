"""Archaeological obsidian sourcing: assign a flake to one of 4 volcanic sources from 10 pXRF
trace-element readings (ppm). 5-fold CV, early stop + restore."""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s obsidian: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("obsidian")
rng = np.random.default_rng(2024)
ELEMENTS = ["Rb", "Sr", "Zr", "Y", "Nb", "Ba", "Fe", "Mn", "Ti", "Zn"]

N = 1500
ppm = rng.lognormal(mean=0.0, sigma=0.7, size=(N, 10)).astype(np.float32)
W = rng.normal(0, 1, (10, 4))
W[4, 0] += 2.2; W[0, 0] += 1.0      # source A: Nb, Rb rich
W[5, 1] += 2.0; W[2, 1] += 0.8      # source B: Ba, Zr
W[6, 2] += 2.4; W[3, 2] += 0.6      # source C: Fe, Y
W[8, 3] += 2.6; W[7, 3] += 1.0      # source D: Ti, Mn
logits = np.log(ppm) @ W + rng.gumbel(0, 0.6, (N, 4))
labels = logits.argmax(1).astype(np.int32)
X = np.log(ppm)
X = (X - X.mean(0)) / X.std(0)
log.info("class shares: %s", " ".join(f"{c}={s:.1%}" for c, s in zip(["A", "B", "C", "D"], np.bincount(labels) / N)))

class FlakeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 32), nn.GELU(), nn.Dropout(0.1), nn.Linear(32, 32), nn.GELU())
        self.head = nn.Linear(32, 4)
    def __call__(self, x):
        return self.head(self.body(x))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def macro_f1(pred, y):
    f = []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c)); fp = np.sum((pred == c) & (y != c)); fn = np.sum((pred != c) & (y == c))
        f.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f))

folds = np.array_split(rng.permutation(N), 5)
rows = []
for k, val_idx in enumerate(folds, start=1):
    tr_idx = np.concatenate([f for j, f in enumerate(folds, start=1) if j != k])
    Xt, yt = mx.array(X[tr_idx]), mx.array(labels[tr_idx])
    Xv, yv = mx.array(X[val_idx]), labels[val_idx]
    mx.random.seed(100 + k)
    model = FlakeNet(); mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.02)
    vg = nn.value_and_grad(model, loss_fn)
    if k == 1:
        _, g = vg(model, Xt[:128], yt[:128])
        dead = [n for n, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad check fold 1: %d tensors, zero-grad: %s", len(tree_flatten(g)), dead or "none")
    best, best_nll, best_ep, wait = None, float("inf"), 0, 0
    n_tr = len(tr_idx)
    for epoch in range(1, 121):
        model.train()
        perm = mx.array(rng.permutation(n_tr))
        tot = 0.0
        for s in range(0, n_tr, 64):
            b = perm[s:s + 64]
            loss, grads = vg(model, Xt[b], yt[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.shape[0]
        model.eval()
        lv = model(Xv)
        nll = nn.losses.cross_entropy(lv, mx.array(yv), reduction="mean").item()
        f1 = macro_f1(np.array(lv.argmax(1)), yv)
        if nll < best_nll - 1e-4:
            best, best_nll, best_ep, wait = tree_map(lambda a: a, model.parameters()), nll, epoch, 0
        else:
            wait += 1
        if epoch % 5 == 0 or epoch == 1:
            log.info("fold=%d epoch=%d train_nll=%.4f val_nll=%.4f val_macroF1=%.1f%% wait=%d", k, epoch, tot / n_tr, nll, 100 * f1, wait)
        if wait >= 10:
            log.info("fold=%d early stop at epoch %d, restoring epoch %d (val_nll %.4f)", k, epoch, best_ep, best_nll)
            break
    model.update(best); mx.eval(model.parameters())
    model.eval()
    lv = model(Xv)
    nll = nn.losses.cross_entropy(lv, mx.array(yv), reduction="mean").item()
    f1 = macro_f1(np.array(lv.argmax(1)), yv)
    acc = float(np.mean(np.array(lv.argmax(1)) == yv))
    prior = np.bincount(labels[tr_idx], minlength=4) / len(tr_idx)
    prior_nll = float(-np.mean(np.log(prior[yv])))
    rows.append((k, best_ep, nll, prior_nll, acc, f1))

print("fold | best_ep | val_nll | prior_nll | acc    | macroF1")
for k, be, nll, pn, acc, f1 in rows:
    print(f"{k:>4} | {be:>7} | {nll:7.4f} | {pn:9.4f} | {acc:6.1%} | {f1:6.1%}")
r = np.array([x[2:] for x in rows])
print(f"mean | {'':>7} | {r[:,0].mean():7.4f} | {r[:,1].mean():9.4f} | {r[:,2].mean():6.1%} | {r[:,3].mean():6.1%}")
