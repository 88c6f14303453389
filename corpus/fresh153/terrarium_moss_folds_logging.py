# Closed-terrarium moss health triage: thriving / too dry / mould risk,
# from six sensor readings logged over a week. 5-fold cross-validation.
# The first layer is a fixed random projection (frozen on purpose);
# only the head trains. LR warms up from exactly 0, early stopping keeps
# the best epoch's weights.
import logging

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s terrarium: %(message)s")
log = logging.getLogger("terrarium")

CLASSES = ["thriving", "too_dry", "mould_risk"]
mx.random.seed(11)

n_per = 140
feats, labels = [], []
centers = mx.array([
    [82.0, 21.0, 350.0, 0.45, 3.0, 12.0],   # RH %, temp C, lux, soil moisture, condensation h/day, CO2 delta ppm
    [58.0, 24.0, 600.0, 0.18, 0.5, 5.0],
    [96.0, 23.0, 150.0, 0.70, 9.0, 30.0],
])
spread = mx.array([13.0, 3.5, 260.0, 0.22, 3.8, 14.0])
for c in range(3):
    feats.append(centers[c] + spread * mx.random.normal((n_per, 6)))
    labels.append(mx.full((n_per,), c, dtype=mx.int32))
X = mx.concatenate(feats)
y = mx.concatenate(labels)
perm = mx.random.permutation(X.shape[0])
X, y = X[perm], y[perm]
X = (X - X.mean(axis=0)) / X.std(axis=0)


class MossNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 64)      # random features, never trained
        self.head1 = nn.Linear(64, 24)
        self.head2 = nn.Linear(24, 3)
        self.proj.freeze()

    def __call__(self, x):
        return self.head2(nn.relu(self.head1(mx.tanh(self.proj(x)))))


def xent(model, xb, yb):
    return nn.losses.cross_entropy(model(xb), yb, reduction="mean")


def err_pct(model, xb, yb):
    return 100.0 * (mx.argmax(model(xb), axis=1) != yb).astype(mx.float32).mean().item()


K = 5
fold_size = X.shape[0] // K
warm = optim.linear_schedule(0.0, 0.08, 30)
lr_sched = optim.join_schedules([warm, optim.cosine_decay(0.08, 400, 0.004)], [30])
fold_best = []
for k in range(K):
    mx.random.seed(100 + k)
    va = mx.arange(k * fold_size, (k + 1) * fold_size)
    tr = mx.concatenate([mx.arange(0, k * fold_size), mx.arange((k + 1) * fold_size, X.shape[0])])
    Xtr, ytr, Xva, yva = X[tr], y[tr], X[va], y[va]

    model = MossNet()
    mx.eval(model.parameters())
    proj_w0 = mx.array(model.proj.weight)
    opt = optim.SGD(learning_rate=lr_sched, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, xent)

    best_err, best_epoch, best_params, patience = 1e9, -1, None, 0
    for epoch in range(60):
        order = mx.random.permutation(Xtr.shape[0])
        ep_loss, nb = 0.0, 0
        for i in range(0, Xtr.shape[0], 32):
            idx = order[i:i + 32]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            if epoch == 0 and i == 0:
                gn = {n: mx.linalg.norm(g).item() for n, g in tree_flatten(grads)}
                log.info("fold %d audit: grad norms %s", k + 1,
                         ", ".join(f"{n}={v:.3g}" for n, v in gn.items()))
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            ep_loss += loss.item()
            nb += 1
        ve = err_pct(model, Xva, yva)
        if epoch % 5 == 0:
            log.info("fold %d/%d epoch %02d step %d lr=%.4f xent=%.4f val_err=%.1f%%",
                     k + 1, K, epoch, opt.step.item(), opt.learning_rate.item(), ep_loss / nb, ve)
        if ve < best_err - 1e-9:
            best_err, best_epoch, patience = ve, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.trainable_parameters())
        else:
            patience += 1
            if patience >= 10:
                log.info("fold %d stop at epoch %d (no gain for 10 epochs)", k + 1, epoch)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    drift = mx.linalg.norm(model.proj.weight - proj_w0).item()
    restored = err_pct(model, Xva, yva)
    log.info("fold %d restored epoch %d: val_err=%.1f%% (best seen %.1f%%), frozen proj drift=%.2e",
             k + 1, best_epoch, restored, best_err, drift)
    fold_best.append(restored)

chance = 100.0 * (1 - 1 / 3)
log.info("cv error %.1f%% +/- %.1f%% over %d folds (chance %.1f%%)",
         sum(fold_best) / K, (sum((e - sum(fold_best) / K) ** 2 for e in fold_best) / K) ** 0.5, K, chance)
