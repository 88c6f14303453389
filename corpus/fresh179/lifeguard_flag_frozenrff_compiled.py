# Beach lifeguard tower: which flag to fly (green / yellow / red) from 7 readings.
# A fixed random-Fourier feature layer (frozen on purpose) feeds a trainable MLP head.
# Two curriculum stages: calm, clear-cut days first, then every day (harder, noisier).
# Compiled training step, Adamax, early stopping that restores the best weights.
import logging
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tower: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tower")
mx.random.seed(31)


def beach_days(n, key):
    k1, k2 = mx.random.split(key)
    z = mx.random.normal((n, 7), key=k1)
    wave_h, period, onshore, tide_s, tide_c, bar_gap, crowd = [z[:, i] for i in range(7)]
    rip = 1.3 * bar_gap * mx.sigmoid(2 * wave_h) + 0.6 * period * tide_c
    danger = 1.1 * wave_h + 0.7 * onshore + rip - 0.3 * tide_s + 0.2 * crowd * wave_h
    danger = danger + 0.35 * mx.random.normal((n,), key=k2)
    y = (danger > -0.4).astype(mx.int32) + (danger > 1.1).astype(mx.int32)
    margin = mx.minimum(mx.abs(danger + 0.4), mx.abs(danger - 1.1))
    return z, y, margin


xtr, ytr, mtr = beach_days(4000, mx.random.key(1))
xva, yva, _ = beach_days(1000, mx.random.key(2))


class FlagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(7, 96)          # frozen random projection
        self.head1 = nn.Linear(192, 64)
        self.head2 = nn.Linear(64, 3)
        self.rff.freeze()

    def __call__(self, x):
        p = self.rff(x)
        f = mx.concatenate([mx.cos(p), mx.sin(p)], axis=-1) / math.sqrt(96)
        return self.head2(nn.gelu(self.head1(f)))


model = FlagNet()
rff_before = mx.array(model.rff.weight)
opt = optim.Adamax(learning_rate=4e-3)


def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


_, g = nn.value_and_grad(model, ce)(model, xtr[:512], ytr[:512])
gn = {k: mx.linalg.norm(v).item() for k, v in tree_flatten(g)}
log.info("audit: trainable grads %s", " ".join(f"{k}={v:.3g}" for k, v in gn.items()))

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, ce)(model, x, y)
    opt.update(model, grads)
    return loss


def evaluate(x, y):
    logits = model(x)
    pred = mx.argmax(logits, axis=-1)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    f1s = []
    for c in range(3):
        tp = mx.sum((pred == c) & (y == c)).item()
        fp = mx.sum((pred == c) & (y != c)).item()
        fn = mx.sum((pred != c) & (y == c)).item()
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return loss, 100 * mx.mean(pred == y).item(), sum(f1s) / 3


easy = mx.array([i for i, m in enumerate(mtr.tolist()) if m > 0.6])
stages = [("calm-days", xtr[easy], ytr[easy], 15), ("all-days", xtr, ytr, 60)]
best = (float("inf"), None, None)
B = 100
for name, xs, ys, max_ep in stages:
    log.info("stage %s: %d days, up to %d epochs", name, xs.shape[0], max_ep)
    patience, bad = 8, 0
    best_stage = float("inf")
    for ep in range(1, max_ep + 1):
        perm = mx.random.permutation(xs.shape[0])
        run = 0.0
        nb = xs.shape[0] // B
        for b in range(nb):
            idx = perm[b * B:(b + 1) * B]
            loss = step(xs[idx], ys[idx])
            mx.eval(state, loss)
            run += loss.item()
        vl, acc, f1 = evaluate(xva, yva)
        if ep <= 2 or ep % 5 == 0:
            log.info("%s ep %02d  train %.4f  holdout %.4f  flags-right %.1f%%  macroF1 %.3f",
                     name, ep, run / nb, vl, acc, f1)
        if vl < best_stage - 1e-4:
            best_stage, bad = vl, 0
            if vl < best[0]:
                best = (vl, tree_map(lambda a: mx.array(a), model.parameters()), ep)
        else:
            bad += 1
            if bad >= patience:
                log.info("%s: no holdout gain for %d epochs, stop at ep %d", name, patience, ep)
                break

model.update(best[1])
mx.eval(model.parameters())
vl, acc, f1 = evaluate(xva, yva)
drift = mx.linalg.norm(model.rff.weight - rff_before).item()
log.info("restored best (holdout %.4f): flags-right %.1f%% macroF1 %.3f | rff drift %.1e (frozen)",
         vl, acc, f1, drift)
