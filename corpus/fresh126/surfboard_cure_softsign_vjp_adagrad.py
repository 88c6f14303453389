"""Surfboard glassing shop: resin cure verdict tacky / cured / brittle.

The shop logs 9 readings per laminated panel; the label is the verdict from the
next-morning thumbnail and flex test.  Model: a frozen random-Fourier feature bank (kept fixed
on purpose) plus the raw inputs, into a small head whose activation is a
softsign with a hand-written VJP.  The train step is compiled.  Logging is
sparse: a few lines during training, then a summary table.
"""
import logging
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s glassing | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("glassing")

CLASSES = ["tacky", "cured", "brittle"]


@mx.custom_function
def softsign(x):
    return x / (1.0 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    # single input: primals, cotangent and output arrive as plain arrays
    d = 1.0 + mx.abs(primals)
    return cotangent / (d * d)


def make_panels(rng, n):
    uv_min = rng.gamma(2.0, 9.0, n)              # minutes in the UV box
    catalyst = rng.normal(45, 8, n)              # ml per litre of resin
    wax = rng.normal(0.6, 0.12, n)               # % wax additive
    visc = rng.lognormal(0.9, 0.25, n)           # resin viscosity, P
    humidity = rng.normal(42, 4, n)              # % RH
    weave = rng.uniform(0, 1, n)                 # cloth weave openness
    pot_life = rng.normal(50, 7, n)              # min
    roller = rng.gamma(3.0, 0.4, n)              # roller pressure, N
    shop_c = rng.normal(22, 3, n)                # C
    cure = (0.035 * uv_min + 0.05 * (catalyst - 45) + 2.2 * (wax - 0.6)
            - 0.9 * np.log(visc) - 0.06 * (humidity - 42) - 0.8 * (weave - 0.5)
            + 0.02 * (pot_life - 50) + 0.25 * np.tanh(roller - 1.2) + 0.03 * (shop_c - 22)
            + 0.35 * np.sin(uv_min / 6.0))
    logits = np.stack([-3.2 * (cure + 0.05), np.full(n, 0.9) - 1.1 * cure ** 2,
                       3.2 * (cure - 0.75)], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    X = np.stack([uv_min, catalyst, wax, visc, humidity, weave, pot_life, roller, shop_c], 1)
    return X.astype(np.float32), y.astype(np.int32)


class CureNet(nn.Module):
    def __init__(self, d_in=9, n_rff=48, hidden=32):
        super().__init__()
        self.rff = nn.Linear(d_in, n_rff)          # frozen random feature bank
        self.hid = nn.Linear(d_in + n_rff, hidden)
        self.cls = nn.Linear(hidden, 3)
        self.rff.freeze()

    def __call__(self, x):
        f = mx.cos(self.rff(x) * 1.5)
        h = softsign(self.hid(mx.concatenate([x, f], axis=-1)))
        return self.cls(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def per_class_table(pred, y):
    rows = []
    for c, name in enumerate(CLASSES):
        tp = int(np.sum((pred == c) & (y == c)))
        fp = int(np.sum((pred == c) & (y != c)))
        fn = int(np.sum((pred != c) & (y == c)))
        prec = tp / max(tp + fp, 1)
        rec = tp / max(tp + fn, 1)
        f1 = 2 * prec * rec / max(prec + rec, 1e-9)
        rows.append((name, int(np.sum(y == c)), prec, rec, f1))
    return rows


def main():
    rng = np.random.default_rng(2026)
    mx.random.seed(2026)
    Xtr, ytr = make_panels(rng, 6000)
    Xva, yva = make_panels(rng, 1500)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    xtr, xva = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array(ytr), mx.array(yva)
    shares = np.bincount(ytr, minlength=3) / len(ytr)
    majority = int(np.argmax(shares))
    base_acc = float(np.mean(yva == majority))
    log.info("train %d / val %d panels, class shares %s", len(ytr), len(yva),
             " ".join(f"{c}={s:.1%}" for c, s in zip(CLASSES, shares)))

    # audit the hand-written VJP against autodiff of the plain formula
    z = mx.random.normal((4096,)) * 3.0
    g_custom = mx.grad(lambda t: mx.sum(softsign(t) * mx.cos(t)))(z)
    g_auto = mx.grad(lambda t: mx.sum(t / (1.0 + mx.abs(t)) * mx.cos(t)))(z)
    log.info("vjp audit: max|custom-auto| = %.3e", float(mx.max(mx.abs(g_custom - g_auto))))

    model = CureNet()
    mx.eval(model.parameters())
    rff_w0 = mx.array(model.rff.weight)
    trainable = {k: mx.array(v) for k, v in tree_flatten(model.trainable_parameters())}
    log.info("trainable tensors: %s", ", ".join(sorted(trainable)))

    opt = optim.Adagrad(learning_rate=0.08)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    _, g = nn.value_and_grad(model, loss_fn)(model, xtr[:256], ytr_m[:256])
    zero = [k for k, v in tree_flatten(g) if float(mx.max(mx.abs(v))) == 0.0]
    log.info("grad check: %d tensors, all-zero: %s", len(tree_flatten(g)), zero or "none")

    logits = model(xva)
    log.info("epoch  0  ce   -    / %.4f  acc %.1f%%  (majority %.1f%%)",
             float(nn.losses.cross_entropy(logits, yva_m, reduction="mean")),
             100 * float(mx.mean(mx.argmax(logits, -1) == yva_m)), 100 * base_acc)

    epochs, bs = 24, 100
    n = xtr.shape[0]
    t0 = time.perf_counter()
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        run = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = train_step(xtr[idx], ytr_m[idx])
            mx.eval(state, loss)
            run += float(loss)
        if ep in (1, 12, epochs):
            logits = model(xva)
            val_ce = float(nn.losses.cross_entropy(logits, yva_m, reduction="mean"))
            acc = float(mx.mean(mx.argmax(logits, -1) == yva_m))
            log.info("epoch %2d  ce %.4f / %.4f  acc %.1f%%  (majority %.1f%%)",
                     ep, run / math.ceil(n / bs), val_ce, 100 * acc, 100 * base_acc)

    pred = np.array(mx.argmax(model(xva), -1))
    rows = per_class_table(pred, yva)
    log.info("%-7s %6s %7s %7s %7s", "class", "n", "prec%", "rec%", "F1%")
    for name, cnt, p, r, f in rows:
        log.info("%-7s %6d %7.1f %7.1f %7.1f", name, cnt, 100 * p, 100 * r, 100 * f)
    macro = np.mean([r[4] for r in rows])
    log.info("macro-F1 %.1f%% | acc %.1f%% vs majority %.1f%%", 100 * macro,
             100 * float(np.mean(pred == yva)), 100 * base_acc)
    drift_rff = float(mx.max(mx.abs(model.rff.weight - rff_w0)))
    now = dict(tree_flatten(model.trainable_parameters()))
    moved = min(float(mx.max(mx.abs(now[k] - v))) for k, v in trainable.items())
    log.info("audit: frozen rff drift %.1e, smallest trainable move %.3e, %.2fs",
             drift_rff, moved, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
