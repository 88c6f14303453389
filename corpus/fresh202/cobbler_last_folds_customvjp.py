"""Cobbler's last picker: which of six EU last sizes (38..43) fits a foot scan.

4-fold cross-validation, a hand-written softplus with its own VJP, Lion,
early stopping that puts back the best weights of each fold.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("lastpicker")

rng = np.random.default_rng(2024)
N = 3200
length = rng.normal(262, 9, N)          # foot length mm
width = rng.normal(98, 5, N) + 0.2 * (length - 262)
instep = rng.normal(245, 10, N) + 0.6 * (width - 98)
heel = rng.normal(64, 3, N)
arch = rng.normal(17, 4, N)
toebox = rng.normal(42, 3, N)
# made-up fitting law: effective length + allowance for wide feet / high insteps
eff = length + 0.35 * (width - 98) + 0.12 * (instep - 245) + 0.5 * (toebox - 42) + rng.normal(0, 2.2, N)
size = np.clip(np.floor((eff - 243) / 6.67), 0, 5).astype(np.int32)   # 0 -> EU38 ... 5 -> EU43
X = np.stack([length, width, instep, heel, arch, toebox], 1).astype(np.float32)
X = (X - X.mean(0)) / X.std(0)
folds = np.array_split(rng.permutation(N), 4)


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, 0.0)


@softplus.vjp
def softplus_vjp(x, cotangent, output):
    return cotangent * mx.sigmoid(x)


class LastNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 6)

    def __call__(self, x):
        return self.out(softplus(self.l2(softplus(self.l1(x)))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def err_and_mm(model, x, y):
    pred = mx.argmax(model(x), axis=1)
    err = mx.mean(pred != y) * 100.0
    mm = mx.mean(mx.abs(pred - y).astype(mx.float32)) * 6.67
    return float(err.item()), float(mm.item())


# audit the hand-written VJP against autodiff of the same formula
probe = mx.linspace(-6, 6, 101)
g_custom = mx.grad(lambda t: mx.sum(softplus(t)))(probe)
g_auto = mx.grad(lambda t: mx.sum(mx.logaddexp(t, 0.0)))(probe)
log.info("vjp audit: max|custom-auto| = %.2e over %d points", float(mx.max(mx.abs(g_custom - g_auto)).item()), probe.size)

rows = []
t0 = time.time()
for k, va_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    xtr, ytr = mx.array(X[tr_idx]), mx.array(size[tr_idx])
    xva, yva = mx.array(X[va_idx]), mx.array(size[va_idx])
    majority = np.bincount(size[tr_idx]).argmax()
    base_err = float(np.mean(size[va_idx] != majority) * 100)

    mx.random.seed(100 + k)
    model = LastNet()
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, xtr[:256], ytr[:256])
    nz = sum(1 for _, g in tree_flatten(g0) if float(mx.abs(g).max().item()) > 0)
    log.info("fold %d/4 start: train=%d valid=%d  tensors with grad>0: %d/%d", k + 1, len(tr_idx), len(va_idx), nz, len(tree_flatten(g0)))

    best = (float("inf"), 0, None)
    patience, bad = 6, 0
    for epoch in range(1, 61):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for s in range(0, len(tr_idx), 64):
            b = perm[s:s + 64]
            loss, grads = vg(model, xtr[b], ytr[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss.item()) * b.size
        verr, vmm = err_and_mm(model, xva, yva)
        if epoch == 1 or epoch % 5 == 0:
            log.info("fold %d ep %02d  xent %.4f  valid err %5.2f%%  misfit %.2f mm", k + 1, epoch, tot / len(tr_idx), verr, vmm)
        if verr < best[0] - 1e-9:
            best = (verr, epoch, tree_map(lambda p: mx.array(p), model.parameters()))
            bad = 0
        else:
            bad += 1
            if bad >= patience:
                log.info("fold %d: no better valid err for %d epochs, stop at ep %d", k + 1, patience, epoch)
                break
    model.update(best[2])
    mx.eval(model.parameters())
    verr, vmm = err_and_mm(model, xva, yva)
    log.info("fold %d: restored ep %d weights -> valid err %.2f%% (best seen %.2f%%)", k + 1, best[1], verr, best[0])
    rows.append((k + 1, best[1], verr, vmm, base_err))

print()
print("fold | best ep | err %  | misfit mm | majority-class err %")
print("-----+---------+--------+-----------+---------------------")
for r in rows:
    print(f"{r[0]:>4} | {r[1]:>7} | {r[2]:6.2f} | {r[3]:9.2f} | {r[4]:8.2f}")
e = np.array([r[2] for r in rows])
print(f"mean | {'':>7} | {e.mean():6.2f} | {np.mean([r[3] for r in rows]):9.2f} | {np.mean([r[4] for r in rows]):8.2f}")
print(f"({time.time() - t0:.1f} s)")
