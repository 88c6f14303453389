"""Five-species bird-song ID from 20 syllable statistics; 4-fold cross-validation,
each fold trained from scratch with early stopping that restores the best weights.
Output: one JSON object per line."""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
SPECIES = ["wren", "robin", "blackcap", "chiffchaff", "thrush"]
N, D, C = 2400, 20, 5
centers = rng.normal(0, 1.0, (C, D))
lab = rng.integers(0, C, N)
# song features: species prototype + individual-bird offset + recording noise,
# heavy overlap so that a big net overfits the small training folds
X = centers[lab] * 0.55 + rng.normal(0, 1.0, (N, D)) + 0.3 * rng.normal(0, 1, (N, 1))
X = X.astype(np.float32)
lab = lab.astype(np.int32)
K = 4
fold_of = rng.permutation(N) % K


class SongNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 128)
        self.l2 = nn.Linear(128, 128)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(128, C)

    def __call__(self, x):
        h = self.drop(nn.relu(self.l1(x)))
        h = self.drop(nn.relu(self.l2(h)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = mx.mean(mx.argmax(logits, -1) == y).item()
    model.train()
    return ce, acc


def emit(**kw):
    print(json.dumps(kw), flush=True)


emit(event="data", clips=N, features=D, species=SPECIES, folds=K, chance_acc_pct=100.0 / C)
t0 = time.time()
results = []
for k in range(K):
    tr, va = fold_of != k, fold_of == k
    mu, sd = X[tr].mean(0), X[tr].std(0)
    xtr, ytr = mx.array((X[tr] - mu) / sd), mx.array(lab[tr])
    xva, yva = mx.array((X[va] - mu) / sd), mx.array(lab[va])
    mx.random.seed(1000 + k)
    model = SongNet()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)
    best = (float("inf"), 0, None)
    patience, bad, B = 6, 0, 48
    for ep in range(1, 81):
        perm = rng.permutation(xtr.shape[0])
        tot, nb = 0.0, 0
        for s in range(0, len(perm) - B + 1, B):
            idx = mx.array(perm[s:s + B])
            loss, g = vg(model, xtr[idx], ytr[idx])
            if ep == 1 and s == 0:
                leaves = tree_flatten(g)
                nz = sum(int(mx.any(a != 0).item()) for _, a in leaves)
                emit(event="grad_check", fold=k + 1, nonzero_leaves=nz, leaves=len(leaves))
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        vce, vacc = evaluate(model, xva, yva)
        improved = vce < best[0] - 1e-4
        if improved:
            best = (vce, ep, dict(tree_flatten(model.parameters())))
            bad = 0
        else:
            bad += 1
        if ep % 3 == 1 or improved is False and bad == patience:
            emit(fold=k + 1, epoch=ep, train_ce=round(tot / nb, 4), val_ce=round(vce, 4),
                 val_acc_pct=round(100 * vacc, 2), best_epoch=best[1], bad_epochs=bad)
        if bad == patience:
            break
    last_ce, last_acc = evaluate(model, xva, yva)
    model.load_weights(list(best[2].items()))
    rce, racc = evaluate(model, xva, yva)
    emit(event="fold_done", fold=k + 1, stopped_epoch=ep, best_epoch=best[1],
         last_val_ce=round(last_ce, 4), restored_val_ce=round(rce, 4),
         last_val_acc_pct=round(100 * last_acc, 2), restored_val_acc_pct=round(100 * racc, 2),
         secs=round(time.time() - t0, 1))
    results.append(racc)

emit(event="cv_done", mean_val_acc_pct=round(100 * float(np.mean(results)), 2),
     std_pct=round(100 * float(np.std(results)), 2), secs=round(time.time() - t0, 1))
