# Snowshoe field probe: classify the snow layer under the shoe
# (powder / breakable crust / wet slush / wind slab) from 6 probe readings.
# 4-fold cross-validation, compiled train step, custom-VJP activation.
import logging
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("snowshoe")

CLASSES = ["powder", "crust", "slush", "windslab"]
rng = np.random.default_rng(77)


def make_probe(n):
    y = rng.integers(0, 4, n)
    # sinkage cm, peak resistance N, snow temp C, density kg/m3, wetness %, rebound mm
    centres = np.array([
        [28, 40, -9, 110, 0.5, 2],
        [9, 260, -6, 300, 1.0, 9],
        [18, 120, -0.3, 450, 9.0, 1],
        [6, 190, -12, 380, 0.3, 6],
    ], dtype=np.float64)
    spread = np.array([7, 60, 3, 70, 2.0, 3])
    X = centres[y] + rng.normal(0, 1, (n, 6)) * spread
    return X.astype(np.float32), y.astype(np.int32)


X_all, y_all = make_probe(4000)


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


class ProbeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 4)

    def __call__(self, x):
        h = softsign(self.a(x))
        h = softsign(self.b(h))
        return self.c(h)


# audit: custom vjp against the autodiff of the same formula
xt = mx.linspace(-4, 4, 101)
g_custom = mx.grad(lambda t: softsign(t).sum())(xt)
g_auto = mx.grad(lambda t: (t / (1 + mx.abs(t))).sum())(xt)
log.info("vjp audit max|custom-auto| = %.3e", mx.abs(g_custom - g_auto).max().item())


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def macro_f1(pred, y):
    f = []
    for c in range(4):
        tp = np.sum((pred == c) & (y == c))
        fp = np.sum((pred == c) & (y != c))
        fn = np.sum((pred != c) & (y == c))
        f.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f))


folds = np.array_split(rng.permutation(len(y_all)), 4)
summary = []
for k in range(4):
    va_idx = folds[k]
    tr_idx = np.concatenate([folds[j] for j in range(4) if j != k])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0)
    Xtr = mx.array((X_all[tr_idx] - mu) / sd)
    ytr = mx.array(y_all[tr_idx])
    Xva = mx.array((X_all[va_idx] - mu) / sd)
    yva = y_all[va_idx]

    mx.random.seed(100 + k)
    model = ProbeNet()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(model.parameters())

    if k == 0:
        _, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:128], ytr[:128])
        norms = {n: round(mx.linalg.norm(v).item(), 4) for n, v in tree_flatten(g)}
        log.info("grad norms at init: %s", norms)

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    B = 64
    n = Xtr.shape[0]
    for epoch in range(1, 9):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        nb = 0
        for i in range(0, n - B + 1, B):
            idx = perm[i:i + B]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        pred = np.array(mx.argmax(model(Xva), axis=1))
        acc = 100.0 * np.mean(pred == yva)
        if epoch in (1, 2, 4, 8):
            log.info("fold %d/4 epoch %d  xent %.4f  acc %.2f%%  macroF1 %.3f  err %d/%d",
                     k + 1, epoch, tot / nb, acc, macro_f1(pred, yva), int(np.sum(pred != yva)), len(yva))
    summary.append((acc, macro_f1(pred, yva)))

accs = [a for a, _ in summary]
log.info("cv accuracy %.2f%% +- %.2f  (majority-class %.2f%%)", np.mean(accs), np.std(accs),
         100.0 * np.bincount(y_all).max() / len(y_all))
for k, (a, f) in enumerate(summary):
    print(f"  fold{k + 1}: acc={a:6.2f}  f1={f:.3f}")
