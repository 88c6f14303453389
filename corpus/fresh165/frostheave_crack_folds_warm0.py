"""Will a sealed pavement crack open into a pothole over one winter?

4-fold cross-validation, hand-written SGD with momentum, learning rate warmed up from exactly 0,
early stopping on validation log-loss with the best weights restored per fold.
"""
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("heave")

rng = np.random.default_rng(2026)
N = 4000
cols = ["freeze_thaw", "crack_mm", "aadt_k", "drain_score", "sealant_age", "subgrade_fines",
        "shade_frac", "heavy_pct", "salt_t_km"]
X = rng.normal(size=(N, len(cols))).astype(np.float32)
logit = (-1.3 + 1.1 * X[:, 0] + 0.8 * X[:, 1] + 0.5 * X[:, 2] * (X[:, 7] > 0)
         - 0.9 * X[:, 3] + 0.6 * X[:, 4] + 0.7 * X[:, 0] * X[:, 5] + 0.3 * X[:, 6]
         + 0.2 * X[:, 8])
y = (rng.random(N) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
folds = rng.permutation(N) % 4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(len(cols), 32)
        self.b = nn.Linear(32, 16)
        self.c = nn.Linear(16, 1)

    def __call__(self, x):
        return self.c(nn.relu(self.b(nn.relu(self.a(x))))).squeeze(-1)


def bce(m, x, t):
    return nn.losses.binary_cross_entropy(m(x), t, with_logits=True, reduction="mean")


def auc(score, t):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    npos = t.sum()
    nneg = len(t) - npos
    return (ranks[t == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


WARM, MAX_EP, PATIENCE, PEAK, MOM, BS = 40, 60, 6, 0.05, 0.9, 64
summary = []
for k in range(4):
    tr, va = folds != k, folds == k
    xtr, ytr = mx.array(X[tr]), mx.array(y[tr])
    xva, yva_np = mx.array(X[va]), y[va]
    prior = float(y[tr].mean())
    base_ll = -(yva_np * np.log(prior) + (1 - yva_np) * np.log(1 - prior)).mean()
    mx.random.seed(100 + k)
    model = Net()
    vel = tree_map(mx.zeros_like, model.trainable_parameters())
    mx.eval(model.parameters(), vel)
    grad_fn = nn.value_and_grad(model, bce)
    ntr = int(tr.sum())
    step = 0
    best, best_params, bad = float("inf"), None, 0
    for ep in range(MAX_EP):
        perm = mx.array(rng.permutation(ntr))
        tot = 0.0
        for i in range(0, ntr, BS):
            idx = perm[i:i + BS]
            lr = PEAK * min(1.0, step / WARM)  # step 0 -> lr exactly 0
            loss, g = grad_fn(model, xtr[idx], ytr[idx])
            if step in (0, WARM // 2):
                log.info("fold %d step %d warmup lr %.4f batch loss %.4f", k, step, lr, float(loss))
            if step == 1:
                nz = sum(float(mx.abs(v).sum()) > 0 for _, v in tree_flatten(g))
                log.info("fold %d: %d/%d grad tensors non-zero", k, nz, len(tree_flatten(g)))
            vel = tree_map(lambda v, gg: MOM * v + gg, vel, g)
            model.update(tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), vel))
            mx.eval(model.parameters(), vel, loss)
            tot += float(loss) * idx.shape[0]
            step += 1
        logits = model(xva)
        vl = float(nn.losses.binary_cross_entropy(logits, mx.array(yva_np), with_logits=True))
        a = auc(np.array(logits), yva_np)
        if vl < best - 1e-4:
            best, bad = vl, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
            flag = "*"
        else:
            bad += 1
            flag = ""
        if ep < 3 or ep % 5 == 0 or flag == "" and bad == PATIENCE:
            log.info("fold %d ep %02d lr %.4f train %.4f | val %.4f (prior %.4f) auc %.1f%% %s",
                     k, ep, lr, tot / ntr, vl, base_ll, 100 * a, flag)
        if bad >= PATIENCE:
            log.warning("fold %d: no val improvement for %d epochs, stopping at ep %d", k, PATIENCE, ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    logits = model(xva)
    vl = float(nn.losses.binary_cross_entropy(logits, mx.array(yva_np), with_logits=True))
    a = auc(np.array(logits), yva_np)
    log.info("fold %d restored best: val %.4f auc %.1f%% (|restored - best| = %.2e)", k, vl, 100 * a, abs(vl - best))
    summary.append((k, vl, base_ll, a))

print("\nfold  val_ll  prior_ll   auc")
for k, vl, bl, a in summary:
    print(f"{k:>4}  {vl:.4f}  {bl:.4f}  {100 * a:5.1f}%")
m = np.mean([s[1] for s in summary]), np.mean([s[2] for s in summary]), np.mean([s[3] for s in summary])
print(f"mean  {m[0]:.4f}  {m[1]:.4f}  {100 * m[2]:5.1f}%")
