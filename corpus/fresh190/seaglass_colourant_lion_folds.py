# Beachcomber's sea-glass sorter: identify the colouring agent of a tumbled
# sea-glass piece (cobalt blue / selenium pink / uranium yellow / manganese
# lavender / iron green) from a 6-band transmission spectrum measured through it.
# 4-fold cross-validation, Lion optimiser with a warmup that starts at lr = 0,
# compiled train step, JSON-lines log.
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(7)
COLOURANTS = ["cobalt", "selenium", "uranium", "manganese", "iron"]
# mean transmission per band (violet, blue, green, yellow, orange, red)
CENTRES = np.array([
    [0.55, 0.70, 0.25, 0.10, 0.12, 0.30],
    [0.10, 0.08, 0.06, 0.20, 0.55, 0.80],
    [0.05, 0.15, 0.55, 0.80, 0.75, 0.65],
    [0.50, 0.35, 0.15, 0.20, 0.35, 0.55],
    [0.15, 0.30, 0.60, 0.45, 0.30, 0.20],
], dtype=np.float32)

def make_pieces(n):
    y = rng.integers(0, 5, n)
    thick = rng.uniform(0.6, 1.6, (n, 1)).astype(np.float32)      # piece thickness (mm)
    frost = rng.uniform(0.0, 0.25, (n, 1)).astype(np.float32)       # surface frosting
    spec = CENTRES[y] ** thick * (1 - frost) + rng.normal(0, 0.06, (n, 6))
    feats = np.concatenate([spec, thick], axis=1).astype(np.float32)
    return feats, y.astype(np.int32)

X_all, Y_all = make_pieces(2000)
FOLDS = 4
idx = rng.permutation(len(X_all))
fold_ids = np.array_split(idx, FOLDS)

class PieceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 5)
    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

EPOCHS, BS = 14, 50
summary = []
t0 = time.time()
for fold in range(FOLDS):
    mx.random.seed(100 + fold)
    va = fold_ids[fold]
    tr = np.concatenate([fold_ids[j] for j in range(FOLDS) if j != fold])
    mu, sd = X_all[tr].mean(0), X_all[tr].std(0) + 1e-6
    Xtr, Ytr = mx.array((X_all[tr] - mu) / sd), mx.array(Y_all[tr])
    Xva, Yva = mx.array((X_all[va] - mu) / sd), mx.array(Y_all[va])
    steps_per_epoch = len(tr) // BS
    total = EPOCHS * steps_per_epoch
    warm = 2 * steps_per_epoch
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-4, warm),
         optim.cosine_decay(3e-4, total - warm, 1e-5)], [warm])
    model = PieceNet()
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=sched, weight_decay=0.05)
    vg = nn.value_and_grad(model, loss_fn)

    if fold == 0:
        _, g0 = vg(model, Xtr[:BS], Ytr[:BS])
        from mlx.utils import tree_flatten
        gn = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
        print(json.dumps({"audit": "grad_norms_step0", "min": round(min(gn.values()), 6),
                          "max": round(max(gn.values()), 6), "n_tensors": len(gn)}))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    for ep in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(len(tr)))
        run = 0.0
        lr_now = float(opt.learning_rate)
        for b in range(steps_per_epoch):
            bi = perm[b * BS:(b + 1) * BS]
            loss = step(Xtr[bi], Ytr[bi])
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
        logits = model(Xva)
        vloss = loss_fn(model, Xva, Yva)
        acc = mx.mean(mx.argmax(logits, axis=1) == Yva)
        mx.eval(vloss, acc)
        print(json.dumps({"fold": fold, "epoch": ep, "lr_at_start": float(f"{lr_now:.3g}"),
                          "train_xent": round(run / steps_per_epoch, 4),
                          "val_xent": round(vloss.item(), 4),
                          "val_acc_pct": round(100 * acc.item(), 1)}))
    summary.append((fold, vloss.item(), 100 * acc.item()))

print("fold | val_xent | val_acc% | chance%")
for f, v, a in summary:
    print(f"{f:4d} | {v:8.4f} | {a:8.1f} | {100/5:7.1f}")
print(json.dumps({"cv_mean_acc_pct": round(float(np.mean([s[2] for s in summary])), 2),
                  "cv_std_acc_pct": round(float(np.std([s[2] for s in summary])), 2),
                  "wall_s": round(time.time() - t0, 1)}))
