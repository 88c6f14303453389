# Tinsmith's workshop: predict two bench-test scores of a soldered seam (pull
# strength and seam tightness, 0-10 points) from the solder job settings.
# 5-fold CV; each fold builds a new model whose random-Fourier front end is frozen on purpose and trains only the head
# with a compiled SGD+momentum step, early stopping on the validation MAE and
# restoring the best weights before the fold is scored.
import logging
import math
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tinsmith: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tinsmith")

rng = np.random.default_rng(2170)
N, D = 320, 9
feat_names = ["flux_pct", "iron_C", "dwell_s", "tin_pct", "sheet_gauge",
              "lap_mm", "scrub_passes", "humidity", "bench_C"]
X = rng.normal(size=(N, D)).astype(np.float32)
strength = 5 + 1.6 * X[:, 0] + 0.9 * X[:, 5] * X[:, 6] - 1.1 * X[:, 7] + 0.6 * np.sin(2 * X[:, 2])
tight = 5 + 1.3 * X[:, 2] + 0.8 * X[:, 1] - 0.7 * X[:, 3] ** 2 + 0.5 * X[:, 8] * X[:, 4]
Y = np.stack([strength, tight], 1) + 0.35 * rng.normal(size=(N, 2))
Y = np.clip(Y, 0, 10).astype(np.float32)


class SeamNet(nn.Module):
    def __init__(self, n_rff=192):
        super().__init__()
        self.front = nn.Linear(D, n_rff)  # random-Fourier projection, kept frozen
        self.front.weight = mx.random.normal((n_rff, D)) * 0.45
        self.front.bias = mx.random.uniform(0, 2 * math.pi, (n_rff,))
        self.head1 = nn.Linear(n_rff, 48)
        self.head2 = nn.Linear(48, 2)

    def __call__(self, x):
        h = mx.cos(self.front(x))
        return self.head2(nn.silu(self.head1(h))) + 5.0


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


folds = np.array_split(rng.permutation(N), 5)
rows = []
for k, val_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    Xtr, Ytr = mx.array(X[tr_idx]), mx.array(Y[tr_idx])
    Xva, Yva = mx.array(X[val_idx]), mx.array(Y[val_idx])
    base_mae = float(np.mean(np.abs(Y[val_idx] - Y[tr_idx].mean(0))))

    mx.random.seed(100 + k)
    model = SeamNet()
    model.front.freeze()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.01, momentum=0.9, weight_decay=1e-3, nesterov=True)
    lg = nn.value_and_grad(model, loss_fn)

    if k == 0:
        _, g = lg(model, Xtr[:64], Ytr[:64])
        flat = tree_flatten(g)
        log.info("grad audit: trainable leaves=%d %s", len(flat),
                 ", ".join(f"{n}|g|={float(mx.sqrt(mx.sum(v * v))):.3g}" for n, v in flat))
        log.info("frozen leaves: %s", [n for n, _ in tree_flatten(model.parameters())
                                       if n not in dict(flat)])

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(xb, yb):
        loss, grads = lg(model, xb, yb)
        opt.update(model, grads)
        return loss

    front_before = np.array(model.front.weight)
    best, best_mae, bad, patience = None, float("inf"), 0, 12
    for epoch in range(1, 121):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for s in range(0, len(tr_idx), 32):
            b = perm[s:s + 32]
            loss = train_step(Xtr[b], Ytr[b])
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss) * b.shape[0]
        va_mae = float(mx.mean(mx.abs(model(Xva) - Yva)))
        if va_mae < best_mae - 1e-4:
            best_mae, bad = va_mae, 0
            best = tree_map(lambda a: a, model.trainable_parameters())
        else:
            bad += 1
        if epoch % 10 == 0:
            log.info("fold %d/5 ep %3d | huber %.4f | val MAE %.3f pts (mean-guess %.3f) | best %.3f | wait %d/%d",
                     k + 1, epoch, tot / len(tr_idx), va_mae, base_mae, best_mae, bad, patience)
        if bad >= patience:
            log.info("fold %d/5 stop at ep %d, restoring best (MAE %.3f)", k + 1, epoch, best_mae)
            break
    model.update(best)
    mx.eval(model.parameters())
    pred = np.array(model(Xva))
    yv = Y[val_idx]
    r2 = 1 - ((pred - yv) ** 2).sum(0) / ((yv - yv.mean(0)) ** 2).sum(0)
    drift = float(np.abs(np.array(model.front.weight) - front_before).max())
    rows.append((k + 1, epoch, float(np.mean(np.abs(pred - yv))), base_mae, 100 * r2[0], 100 * r2[1], drift))

print()
print(f"{'fold':>4} {'epochs':>6} {'MAE':>7} {'meanMAE':>8} {'R2 str%':>9} {'R2 tight%':>10} {'front drift':>12}")
for r in rows:
    print(f"{r[0]:>4} {r[1]:>6} {r[2]:>7.3f} {r[3]:>8.3f} {r[4]:>9.1f} {r[5]:>10.1f} {r[6]:>12.1e}")
m = np.mean([r[2] for r in rows])
print(f"mean {'':>6} {m:>7.3f} {np.mean([r[3] for r in rows]):>8.3f} "
      f"{np.mean([r[4] for r in rows]):>9.1f} {np.mean([r[5] for r in rows]):>10.1f}")
