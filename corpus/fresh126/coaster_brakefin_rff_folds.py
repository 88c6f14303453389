"""Roller-coaster maintenance: wear class of magnetic brake fins.

Classes: 0 = serviceable, 1 = edge chipping, 2 = delaminated.
Inputs: 10 synthetic trackside readings per train pass (eddy-current
deceleration profile, fin temperature, gap sensor, ...).

The random Fourier feature layer is frozen on purpose (fixed kernel
features); only the head is trained, with a hand-written Nesterov SGD.
3-fold cross-validation, early stopping on validation cross-entropy with
restore of the best head weights in each fold.
"""
import logging

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(levelname)-5s brakefin | %(message)s",
                    level=logging.INFO, datefmt="%H:%M:%S")
log = logging.getLogger("brakefin")

mx.random.seed(2024)
N, D, C = 3000, 10, 3

kx, kn = mx.random.split(mx.random.key(5))
X = mx.random.normal((N, D), key=kx)
decel_drop = X[:, 0] * X[:, 1]
heat = mx.sin(1.5 * X[:, 2]) + 0.5 * X[:, 3] ** 2
gap = X[:, 4] - 0.5 * X[:, 5]
score1 = 2.0 * decel_drop + 1.2 * heat - 0.8
score2 = 1.5 * heat + 2.0 * gap - 1.5
logits_true = mx.stack([mx.zeros((N,)), score1, score2], axis=1)
logits_true = logits_true + 0.2 * mx.random.normal(logits_true.shape, key=kn)
Y = mx.argmax(logits_true, axis=1)


class RFFHead(nn.Module):
    def __init__(self, d_in, n_feat, n_cls, bandwidth=2.5):
        super().__init__()
        self.omega = mx.random.normal((d_in, n_feat)) / bandwidth
        self.phase = mx.random.uniform(0, 6.2831853, (n_feat,))
        self.head = nn.Linear(n_feat, n_cls)
        self._scale = (2.0 / n_feat) ** 0.5

    def __call__(self, x):
        z = self._scale * mx.cos(x @ self.omega + self.phase)
        return self.head(z)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


perm = mx.random.permutation(N)
folds = [perm[i::3] for i in range(3)]
summary = []

for fold in range(3):
    val_idx = folds[fold]
    tr_idx = mx.concatenate([folds[j] for j in range(3) if j != fold])
    xtr, ytr, xva, yva = X[tr_idx], Y[tr_idx], X[val_idx], Y[val_idx]

    model = RFFHead(D, 512, C)
    model.freeze(keys=["omega", "phase"])
    omega0 = mx.array(model.omega)
    mx.eval(model.parameters())
    grad_fn = nn.value_and_grad(model, xent)

    _, g = grad_fn(model, xtr[:128], ytr[:128])
    norms = ", ".join(f"{k}={mx.linalg.norm(v).item():.4f}" for k, v in tree_flatten(g))
    log.info("fold %d check: trainable grad norms %s", fold, norms)

    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    lr, mu = 0.5, 0.9
    best, best_epoch, best_params, patience = float("inf"), -1, None, 0
    step = 0
    for epoch in range(60):
        order = mx.random.permutation(xtr.shape[0])
        for b in range(0, xtr.shape[0], 125):
            idx = order[b:b + 125]
            loss, grads = grad_fn(model, xtr[idx], ytr[idx])
            velocity = tree_map(lambda v, g_: mu * v + g_, velocity, grads)
            step_dir = tree_map(lambda v, g_: g_ + mu * v, velocity, grads)
            model.update(tree_map(lambda p, s: p - lr * s,
                                  model.trainable_parameters(), step_dir))
            mx.eval(loss, model.parameters(), velocity)
            step += 1
        vloss = xent(model, xva, yva).item()
        acc = (mx.argmax(model(xva), axis=1) == yva).astype(mx.float32).mean().item()
        if epoch % 5 == 0:
            log.info("fold %d epoch %2d step %4d  train %.4f  val %.4f  acc %.1f%%",
                     fold, epoch, step, loss.item(), vloss, 100 * acc)
        if vloss < best - 1e-4:
            best, best_epoch, patience = vloss, epoch, 0
            best_params = tree_map(lambda p: mx.array(p), model.trainable_parameters())
            mx.eval(best_params)
        else:
            patience += 1
            if patience >= 6:
                log.info("fold %d early stop at epoch %d (best epoch %d)", fold, epoch, best_epoch)
                break

    model.update(best_params)
    vloss = xent(model, xva, yva).item()
    acc = (mx.argmax(model(xva), axis=1) == yva).astype(mx.float32).mean().item()
    drift = mx.abs(model.omega - omega0).max().item()
    majority = max((yva == c).astype(mx.float32).mean().item() for c in range(C))
    log.info("fold %d restored: val %.4f acc %.1f%% (majority %.1f%%) frozen-omega drift %.1e",
             fold, vloss, 100 * acc, 100 * majority, drift)
    summary.append((fold, best_epoch, vloss, acc, majority))

print("fold | best_ep | val_xent | acc    | majority")
for f, be, vl, a, m in summary:
    print(f"{f:4d} | {be:7d} | {vl:8.4f} | {100*a:5.1f}% | {100*m:5.1f}%")
mean_acc = sum(s[3] for s in summary) / len(summary)
print(f"mean | {'':7s} | {sum(s[2] for s in summary)/3:8.4f} | {100*mean_acc:5.1f}% |")
