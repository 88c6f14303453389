"""Sea-shanty work-type classifier from 16-step stress/onset patterns.

Four kinds: capstan, halyard, short-drag, forebitter. 4-fold cross-validation,
compiled SGD-Nesterov step, early stopping on held-out fold loss with the
best weights restored before the fold's final score.
"""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("shanty")

STEPS = 16
KINDS = ["capstan", "halyard", "short-drag", "forebitter"]
TEMPLATES = mx.array([
    [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0],   # capstan: steady march
    [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0],   # halyard: pull on the chorus
    [1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],   # short-drag: one sharp haul
    [1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0],   # forebitter: lilting 6/8
], dtype=mx.float32)


def make_songs(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    y = mx.random.randint(0, 4, (n,), key=k1)
    shift = mx.random.randint(0, 2, (n,), key=k2)             # pickup beat
    base = TEMPLATES[y]
    base = mx.where((shift == 1)[:, None], mx.roll(base, 1, axis=1), base)
    vel = mx.random.uniform(0.6, 1.0, (n, 1), key=k3)
    noise = 0.35 * mx.random.normal((n, STEPS), key=k4)
    return base * vel + noise, y


class Listener(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(STEPS, 48)
        self.norm = nn.LayerNorm(48)
        self.drop = nn.Dropout(0.1)
        self.l2 = nn.Linear(48, 4)

    def __call__(self, x):
        return self.l2(self.drop(nn.gelu(self.norm(self.l1(x)))))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def scores(model, x, y):
    model.eval()
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == y)
    model.train()
    return float(loss), float(acc)


X, Y = make_songs(960, mx.random.key(2024))
mx.eval(X, Y)
FOLDS, MAX_EPOCHS, PATIENCE, BATCH = 4, 40, 5, 48
fold_size = X.shape[0] // FOLDS
chance = 100.0 / len(KINDS)
summary = []

for fold in range(FOLDS):
    mx.random.seed(100 + fold)
    lo, hi = fold * fold_size, (fold + 1) * fold_size
    keep = mx.array([i for i in range(X.shape[0]) if not (lo <= i < hi)])
    xtr, ytr = X[keep], Y[keep]
    xva, yva = X[lo:hi], Y[lo:hi]

    model = Listener()
    model.train()
    opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
    mx.eval(model.parameters())
    state = [model.state, opt.state, mx.random.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, xent)(model, x, y)
        opt.update(model, grads)
        return loss

    if fold == 0:
        g = nn.value_and_grad(model, xent)(model, xtr[:BATCH], ytr[:BATCH])[1]
        dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
        log.info("grad check: %d tensors, zero-grad: %s", len(tree_flatten(g)), dead or "none")

    best, best_epoch, best_params, waited = float("inf"), -1, None, 0
    print(f"\n== fold {fold + 1}/{FOLDS}  train={xtr.shape[0]} held={xva.shape[0]} ==")
    print(f"{'ep':>3} | {'train':>7} | {'held':>7} | {'acc':>6} | note")
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = mx.random.permutation(xtr.shape[0])
        tot, nb = 0.0, 0
        for b in range(0, xtr.shape[0], BATCH):
            idx = perm[b:b + BATCH]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            tot += float(loss)
            nb += 1
        vl, va = scores(model, xva, yva)
        note = ""
        if vl < best - 1e-4:
            best, best_epoch, waited = vl, epoch, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            note = "*"
        else:
            waited += 1
        print(f"{epoch:>3} | {tot / nb:7.4f} | {vl:7.4f} | {100 * va:5.1f}% | {note}")
        if waited >= PATIENCE:
            print(f"    stop: no gain for {PATIENCE} epochs")
            break
    model.update(best_params)
    mx.eval(model.parameters())
    vl, va = scores(model, xva, yva)
    log.info("fold %d restored epoch %d: held loss %.4f acc %.1f%% (chance %.1f%%)",
             fold + 1, best_epoch, vl, 100 * va, chance)
    summary.append((fold + 1, best_epoch, vl, va))

print("\nfold  best_ep  held_loss  held_acc")
for f, e, l, a in summary:
    print(f"{f:>4}  {e:>7}  {l:9.4f}  {100 * a:7.1f}%")
mean_acc = sum(a for *_, a in summary) / len(summary)
print(f"mean held accuracy {100 * mean_acc:.1f}%  vs chance {chance:.1f}%")
