"""Cross-country ski grip wax: pick one of 5 waxes from 6 snow readings.
A fixed (frozen on purpose) random-Fourier-feature layer feeds a small
trainable head; 4-fold cross-validation, early stopping on fold accuracy
with restore of the best weights, logging-module output."""
import logging
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s waxroom: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("waxroom")

WAXES = ["hard-green", "hard-blue", "violet", "red-klister", "universal-klister"]
rng = np.random.default_rng(4411)
N = 3200
air = rng.uniform(-18, 4, N)
snow = np.minimum(air - rng.uniform(0, 4, N), 0)
hum = rng.uniform(40, 100, N)
age = rng.exponential(3.0, N)
new = (rng.random(N) < 0.35).astype(float)
crystal = rng.uniform(0.2, 2.5, N) + 0.3 * age
# made-up latent warmth/transformation scores -> wax choice
warm = 0.22 * snow + 0.06 * air + 0.012 * (hum - 70) + rng.normal(0, 0.25, N)
trans = 0.35 * age + 0.5 * crystal - 1.2 * new + rng.normal(0, 0.4, N)
lab = np.where(trans > 2.6, np.where(warm > -1.0, 4, 3),
               np.digitize(warm, [-2.6, -1.6, -0.9]).clip(0, 2))
X = np.stack([air, snow, hum, age, new, crystal], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
y = lab.astype(np.int32)
counts = np.bincount(y, minlength=5)
log.info("classes " + ", ".join(f"{w}={100*c/N:.1f}%" for w, c in zip(WAXES, counts)))


class WaxPicker(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(6, 96)  # random projection, never trained
        self.head1 = nn.Linear(192, 64)
        self.head2 = nn.Linear(64, 5)

    def __call__(self, x):
        z = self.rff(x)
        f = mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)
        return self.head2(nn.relu(self.head1(f)))


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


folds = np.array_split(np.random.default_rng(7).permutation(N), 4)
summary = []
for k in range(4):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(4) if j != k])
    Xtr, ytr = mx.array(X[tr]), mx.array(y[tr])
    Xva, yva = mx.array(X[va]), mx.array(y[va])
    maj = 100 * np.mean(y[va] == np.bincount(y[tr]).argmax())

    mx.random.seed(100 + k)
    model = WaxPicker()
    model.rff.weight = model.rff.weight * 2.0
    model.rff.freeze()
    mx.eval(model.parameters())
    frozen_before = np.array(model.rff.weight)
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    best_acc, best_ep, best_w, patience = -1.0, 0, None, 0
    brng = np.random.default_rng(k)
    for ep in range(1, 41):
        order = brng.permutation(len(tr))
        tot = 0.0
        for b in range(0, len(order), 64):
            idx = mx.array(order[b:b + 64])
            l, g = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            tot += l.item() * len(idx)
        logits = model(Xva)
        vnll = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        acc = 100 * mx.mean(mx.argmax(logits, axis=-1) == yva).item()
        log.info(f"fold {k+1}/4 | ep {ep:02d} | nll {tot/len(tr):.3f} / {vnll:.3f} | "
                 f"acc {acc:.1f}% (majority {maj:.1f}%)")
        if acc > best_acc + 0.05:
            best_acc, best_ep, patience = acc, ep, 0
            best_w = [(n, mx.array(v)) for n, v in tree_flatten(model.trainable_parameters())]
        else:
            patience += 1
            if patience >= 6:
                log.info(f"fold {k+1}/4 | no gain for 6 epochs, stopping at ep {ep:02d}")
                break
    model.load_weights(best_w, strict=False)
    mx.eval(model.parameters())
    acc = 100 * mx.mean(mx.argmax(model(Xva), axis=-1) == yva).item()
    drift = float(np.abs(np.array(model.rff.weight) - frozen_before).max())
    log.info(f"fold {k+1}/4 | restored ep {best_ep:02d} | acc {acc:.1f}% | rff drift {drift:.1e}")
    summary.append((k + 1, best_ep, acc, maj))

log.info("fold | best_ep | acc% | majority%")
for f, e, a, m in summary:
    log.info(f"{f:4d} | {e:7d} | {a:4.1f} | {m:9.1f}")
log.info(f"mean acc {np.mean([s[2] for s in summary]):.1f}%")
