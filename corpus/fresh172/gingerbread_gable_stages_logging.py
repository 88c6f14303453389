"""Holiday bakery: will an assembled gingerbread house stand, sag, or crack overnight?

Synthetic bake-sheet records: dough moisture %, panel thickness, gable
height/width ratio, royal-icing stiffness, rye share, hours the panels cooled
before assembly, and which of five dough recipes was used (embedding).
Curriculum: stage 1 only sees low cottages (gable h/w < 1.1); stage 2 adds the
tall chapel-style houses, where thin panels and moist dough interact, so the
loss jumps up when the stage starts. The recipe embedding is frozen on purpose
for stage 2 (it was learned on the cottages). The step counter restarts each
stage.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s bakery: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("bakery")

rng = np.random.default_rng(31)
RECIPE_CRACK = np.array([-0.6, 0.0, 0.5, 1.0, -0.2])   # honey, molasses, syrup, treacle, spelt
RECIPE_SAG = np.array([0.8, 0.0, -0.4, -0.2, 0.3])


def make_houses(n):
    moist = rng.uniform(18.0, 28.0, n)        # dough moisture %
    panel = rng.uniform(3.0, 14.0, n)          # panel thickness, mm
    gable = rng.uniform(0.5, 2.6, n)             # gable height / width
    icing = rng.uniform(60.0, 240.0, n)         # icing: g sugar per egg white
    rye = rng.uniform(0.0, 25.0, n)          # rye flour share %
    cooled = rng.uniform(6.0, 96.0, n)           # hours cooled before assembly
    recipe = rng.integers(0, 5, n)
    z_sag = (0.45 * (moist - 23.0) + 2.2 * np.maximum(gable - 1.1, 0.0) * (8.0 - panel) / 3.0
               + 0.012 * (icing - 150.0) + RECIPE_SAG[recipe] - 0.8)
    z_crack = (0.35 * (panel - 8.0) - 0.09 * (rye - 12.0) - 0.03 * (cooled - 48.0)
               + RECIPE_CRACK[recipe] - 0.7)
    logits = np.stack([np.zeros(n), z_sag, z_crack], 1) + rng.gumbel(0.0, 0.35, (n, 3))
    y = logits.argmax(1)
    x = np.column_stack([moist, panel, gable, icing, rye, cooled]).astype(np.float32)
    return x, recipe.astype(np.int32), y.astype(np.int32)


x_tr, b_tr, y_tr = make_houses(16000)
x_va, b_va, y_va = make_houses(3000)
mu, sd = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
cottage_tr = np.where(x_tr[:, 2] * sd[2] + mu[2] < 1.1)[0]
all_tr = np.arange(len(y_tr))
majority_err = 100.0 * (1.0 - np.bincount(y_va, minlength=3).max() / len(y_va))

X_tr, B_tr, Y_tr = mx.array(x_tr), mx.array(b_tr), mx.array(y_tr)
X_va, B_va, Y_va = mx.array(x_va), mx.array(b_va), mx.array(y_va)


class GableNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.recipe = nn.Embedding(5, 4)
        self.hidden = [nn.Linear(10, 64), nn.Linear(64, 64)]
        self.head = nn.Linear(64, 3)

    def __call__(self, x, b):
        h = mx.concatenate([x, self.recipe(b)], axis=-1)
        for lin in self.hidden:
            h = nn.relu(lin(h))
        return self.head(h)


def xent(model, x, b, y):
    return nn.losses.cross_entropy(model(x, b), y, reduction="mean")


def check_grads(model, idx, tag):
    sel = mx.array(idx[:512])
    _, g = nn.value_and_grad(model, xent)(model, X_tr[sel], B_tr[sel], Y_tr[sel])
    flat = tree_flatten(g)
    for name, v in flat:
        assert float(mx.abs(v).sum()) > 0.0, (tag, name)
    log.info("%s: %d trainable tensors, all with non-zero gradient", tag, len(flat))


def val_stats(model):
    logits = model(X_va, B_va)
    loss = float(nn.losses.cross_entropy(logits, Y_va, reduction="mean"))
    err = 100.0 * float((logits.argmax(-1) != Y_va).astype(mx.float32).mean())
    return loss, err


mx.random.seed(5)
model = GableNet()
opt = optim.RMSprop(learning_rate=1.5e-3)
loss_and_grad = nn.value_and_grad(model, xent)

stages = [("low cottages only", cottage_tr, 500), ("all houses (tall gables added)", all_tr, 900)]
BATCH = 96
t0 = time.time()
for s_i, (label, pool, n_steps) in enumerate(stages, start=1):
    if s_i == 2:
        model.recipe.freeze()
        log.info("recipe embedding frozen for the rest of the run")
    check_grads(model, pool, f"stage {s_i}")
    recipe_before = np.array(model.recipe.weight)
    log.info("stage %d/%d: %s, %d houses in pool", s_i, len(stages), label, len(pool))
    run = 0.0
    for step in range(1, n_steps + 1):
        sel = mx.array(rng.choice(pool, BATCH, replace=False))
        loss, grads = loss_and_grad(model, X_tr[sel], B_tr[sel], Y_tr[sel])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += float(loss)
        if step % 100 == 0 or step == 1:
            vl, ve = val_stats(model)
            n = 1 if step == 1 else 100
            log.info("stage %d step %03d/%d | batch xent %.3f nats | val xent %.3f | "
                     "val err %.1f%% (majority-class err %.1f%%)",
                     s_i, step, n_steps, run / n, vl, ve, majority_err)
            run = 0.0
    drift = float(np.abs(np.array(model.recipe.weight) - recipe_before).max())
    log.info("stage %d done: recipe embedding max change %.2e", s_i, drift)

vl, ve = val_stats(model)
log.info("final: val xent %.3f nats, val accuracy %.1f%%, majority baseline %.1f%%, %.1f s",
         vl, 100.0 - ve, 100.0 - majority_err, time.time() - t0)
