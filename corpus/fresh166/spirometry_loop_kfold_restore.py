# Pulmonary function lab: classify the ventilatory pattern of a spirometry test
# (normal / obstructive / restrictive / mixed) from a resampled flow-volume loop
# (16 expiratory flow samples, L/s) plus age, height and sex.
# 4-fold cross-validation, SGD with Nesterov momentum, early stopping that restores
# the best epoch of each fold.  The flow-loop encoder is a fixed random-feature
# projection and is frozen on purpose; only the demographic branch and head train.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pft")

mx.random.seed(2024)
N, P = 1600, 16
CLASSES = ["normal", "obstructive", "restrictive", "mixed"]

labels = mx.random.randint(0, 4, (N,))
age = mx.random.uniform(18, 85, (N,))
height = mx.random.uniform(150, 195, (N,))
sex = (mx.random.uniform(shape=(N,)) < 0.5).astype(mx.float32)

# predicted FVC (litres) from a crude reference equation
fvc_pred = 0.05 * height - 0.022 * age - 3.5 + 0.6 * sex
obstr = mx.logical_or(labels == 1, labels == 3).astype(mx.float32)
restr = mx.logical_or(labels == 2, labels == 3).astype(mx.float32)
fvc = fvc_pred * (1.0 - 0.22 * restr) * mx.random.uniform(0.75, 1.25, (N,))
pef = (1.8 * fvc_pred + 1.0) * (1.0 - 0.15 * obstr) * mx.random.uniform(0.75, 1.25, (N,))
# decay rate of flow along volume: obstruction gives a scooped (concave) loop
curv = 1.0 + 0.9 * obstr + 0.45 * mx.random.normal((N,)).abs()
v = mx.linspace(0.0, 1.0, P)[None, :]
flow = pef[:, None] * (1.0 - v) ** curv[:, None] + 0.6 * mx.random.normal((N, P))
vol_step = fvc[:, None] / P  # litres per sample, scales the loop width

Xloop = mx.concatenate([flow / 8.0, vol_step * 4.0], axis=1)            # (N, 17)
Xdemo = mx.stack([(age - 50) / 20, (height - 172) / 12, sex - 0.5], 1)  # (N, 3)
# the restrictive pattern is only visible against the predicted FVC -> demographics matter


class PatternNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.loop_enc = nn.Linear(P + 1, 96)      # fixed random features (frozen)
        self.demo = nn.Linear(3, 16)
        self.mix = nn.Linear(96 + 16, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, xl, xd):
        h = mx.cos(self.loop_enc(xl) * 3.0)
        d = nn.silu(self.demo(xd))
        z = nn.relu(self.mix(mx.concatenate([h, d], axis=1)))
        return self.head(z)


def ce(model, xl, xd, yb):
    return nn.losses.cross_entropy(model(xl, xd), yb, reduction="mean")


def balanced_acc(logits, yb):
    pred = mx.argmax(logits, axis=1)
    accs = []
    for c in range(4):
        m = (yb == c)
        n = int(m.sum())
        if n:
            accs.append(float(((pred == yb) & m).sum()) / n)
    return 100.0 * sum(accs) / len(accs)


folds = mx.split(mx.random.permutation(N), 4)
summary = []
for f in range(4):
    va = folds[f]
    tr = mx.concatenate([folds[j] for j in range(4) if j != f])
    model = PatternNet()
    model.loop_enc.freeze()
    mx.eval(model.parameters())
    trainable = dict(tree_flatten(model.trainable_parameters()))
    _, g = nn.value_and_grad(model, ce)(model, Xloop[tr[:200]], Xdemo[tr[:200]], labels[tr[:200]])
    gn = {k: float(mx.linalg.norm(a)) for k, a in tree_flatten(g)}
    log.info("fold %d check: %d trainable arrays, min |grad| %.2e (%s), encoder frozen=%s",
             f + 1, len(trainable), min(gn.values()), min(gn, key=gn.get),
             "loop_enc.weight" not in trainable)

    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, ce)
    counts = [int((labels[tr] == c).sum()) for c in range(4)]
    majority = 100.0 * max(int((labels[va] == c).sum()) for c in range(4)) / va.shape[0]

    best_loss, best_ep, best_w, bad = math.inf, 0, None, 0
    for ep in range(1, 61):
        order = tr[mx.random.permutation(tr.shape[0])]
        for s in range(0, order.shape[0], 40):
            b = order[s:s + 40]
            loss, grads = step_fn(model, Xloop[b], Xdemo[b], labels[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
        logits = model(Xloop[va], Xdemo[va])
        vloss = float(nn.losses.cross_entropy(logits, labels[va], reduction="mean"))
        bacc = balanced_acc(logits, labels[va])
        if ep % 5 == 0 or ep == 1:
            log.info("fold %d ep %02d | xent %.4f | bal.acc %5.1f%% | majority %4.1f%%",
                     f + 1, ep, vloss, bacc, majority)
        if vloss < best_loss - 1e-4:
            best_loss, best_ep, bad = vloss, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            bad += 1
            if bad >= 6:
                log.warning("fold %d: no improvement for %d epochs, stopping at ep %d", f + 1, bad, ep)
                break
    model.update(best_w)
    logits = model(Xloop[va], Xdemo[va])
    bacc = balanced_acc(logits, labels[va])
    log.info("fold %d restored ep %d: xent %.4f bal.acc %.1f%%", f + 1, best_ep, best_loss, bacc)
    summary.append((f + 1, best_ep, best_loss, bacc, majority))

print()
print("fold | best ep | val xent | bal.acc % | majority %")
print("-----+---------+----------+-----------+-----------")
for r in summary:
    print(f"{r[0]:4d} | {r[1]:7d} | {r[2]:8.4f} | {r[3]:9.1f} | {r[4]:9.1f}")
m = sum(r[3] for r in summary) / len(summary)
print(f"mean | {'':7s} | {sum(r[2] for r in summary)/4:8.4f} | {m:9.1f} |")
