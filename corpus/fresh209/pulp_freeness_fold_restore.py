# Paper mill lab: grade a pulp sample (0 = newsprint, 1 = kraft, 2 = tissue) from eight
# handsheet tests.  3-fold cross-validation, a fresh model per fold, early stopping with
# restore of the best epoch.  The random-Fourier "sensor" projection is frozen on purpose.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s pulp: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pulp")

mx.random.seed(3)
N = 2400
kx, kn, kl = mx.random.split(mx.random.key(77), 3)
X = mx.random.normal((N, 8), key=kx)  # freeness CSF, fibre length, tensile, tear, brightness, ...
W = mx.random.normal((8, 3), key=kn) * 1.2
logits = X @ W + 0.8 * mx.stack([mx.sin(2 * X[:, 0]), X[:, 1] * X[:, 2], mx.cos(X[:, 3])], axis=1)
Y = mx.random.categorical(logits * 1.5, key=kl)
mx.eval(X, Y)


class PulpGrader(nn.Module):
    def __init__(self):
        super().__init__()
        self.sensor = nn.Linear(8, 64)     # random features, frozen below
        self.head = nn.Sequential(nn.Linear(64 + 8, 32), nn.ReLU(), nn.Linear(32, 3))

    def __call__(self, x):
        f = mx.cos(self.sensor(x))
        return self.head(mx.concatenate([f, x], axis=1))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


folds = 3
idx = mx.random.permutation(N, key=mx.random.key(8))
fold_ids = [idx[i::folds] for i in range(folds)]
summary = []
for f in range(folds):
    va = fold_ids[f]
    tr = mx.concatenate([fold_ids[j] for j in range(folds) if j != f])
    model = PulpGrader()
    model.sensor.freeze()
    frozen_w = mx.array(model.sensor.weight)
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, X[tr[:256]], Y[tr[:256]])
    dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
    log.info("fold %d/%d start: trainable tensors %d, zero-grad %s, sensor frozen", f + 1, folds,
             len(tree_flatten(model.trainable_parameters())), dead or "none")
    best, best_ep, best_params, bad, patience = math.inf, -1, None, 0, 5
    for ep in range(1, 41):
        perm = tr[mx.random.permutation(tr.size)]
        tot = 0.0
        for b in range(0, perm.size, 64):
            bi = perm[b:b + 64]
            loss, grads = vg(model, X[bi], Y[bi])
            grads, gn = optim.clip_grad_norm(grads, max_norm=2.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * bi.size
        vloss = float(loss_fn(model, X[va], Y[va]))
        acc = float(mx.mean(mx.argmax(model(X[va]), axis=1) == Y[va])) * 100
        if ep % 4 == 1 or vloss < best:
            log.info("fold %d ep %02d  tr_xent %.4f  va_xent %.4f  va_acc %.1f%%  gnorm %.3f",
                     f + 1, ep, tot / tr.size, vloss, acc, float(gn))
        if vloss < best - 1e-4:
            best, best_ep, bad = vloss, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
            if bad >= patience:
                log.info("fold %d early stop at ep %d (best ep %d, va_xent %.4f)", f + 1, ep, best_ep, best)
                break
    model.update(best_params)
    mx.eval(model.parameters())
    acc = float(mx.mean(mx.argmax(model(X[va]), axis=1) == Y[va])) * 100
    drift = float(mx.abs(model.sensor.weight - frozen_w).max())
    log.info("fold %d restored ep %d: va_xent %.4f va_acc %.1f%% | audit sensor drift %.2e", f + 1,
             best_ep, float(loss_fn(model, X[va], Y[va])), acc, drift)
    summary.append((f + 1, best_ep, best, acc))

print("fold | best_ep | va_xent | va_acc% | ref_uniform_xent")
for f, e, l, a in summary:
    print(f"{f:4d} | {e:7d} | {l:7.4f} | {a:7.1f} | {math.log(3):.4f}")
print(f"mean va_acc {sum(s[3] for s in summary) / folds:.1f}%  (chance 33.3%)")
