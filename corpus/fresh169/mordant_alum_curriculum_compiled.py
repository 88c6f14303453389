"""Natural-dye studio: tell from the mordant bath sheet whether a skein ends up
under-mordanted, right, or over-mordanted (harsh, sticky) with alum.
Easy baths first, then all of them."""
import logging
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s: %(message)s")
log = logging.getLogger("dyehouse")

ALUM = np.array([0.15, 0.10, 0.12, 0.14, 0.20])   # alum g per g fibre: wool, silk, alpaca, mohair, cotton


def baths(n, rng):
    fibre = rng.dirichlet([2.0, 0.8, 1.2, 0.6, 1.0], n)
    needed = fibre @ ALUM * 100.0                      # g alum per 100 g fibre (WOF) for a right bath
    excess = rng.uniform(-14.0, 26.0, n)               # % over the need, hidden
    alum = needed * (1.0 + excess / 100.0) + rng.normal(0, 0.03, n)
    liquor = rng.uniform(20.0, 40.0, n)                # litres per kg fibre
    label = np.where(excess < 0.0, 0, np.where(excess < 10.0, 1, 2))
    margin = np.minimum(np.abs(excess - 0.0), np.abs(excess - 10.0))
    x = np.concatenate([fibre, alum[:, None] / 10.0, liquor[:, None] / 30.0], 1)
    return x.astype(np.float32), label.astype(np.int32), margin


rng = np.random.default_rng(1690)
x_tr, y_tr, m_tr = baths(12000, rng)
x_va, y_va, _ = baths(2000, rng)
easy = np.nonzero(m_tr > 4.0)[0]
stages = [("easy", easy, 4), ("all", np.arange(len(y_tr)), 14)]
x_tr, y_tr = mx.array(x_tr), mx.array(y_tr)
x_va, y_va = mx.array(x_va), mx.array(y_va)

model = nn.Sequential(nn.Linear(7, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, 3))
opt = optim.Adamax(learning_rate=3e-3)


_, g = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))(
    model, x_tr[:256], y_tr[:256])
smallest = min(float(mx.abs(v).max()) for _, v in tree_flatten(g))
log.info("grad check: %d tensors, smallest max|g| = %.2e", len(tree_flatten(g)), smallest)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))(
        model, xb, yb)
    opt.update(model, grads)
    return loss


def bar(frac, width=20):
    k = int(round(frac * width))
    return "#" * k + " " * (width - k)


BATCH, PATIENCE = 128, 3
best_ce, best_params, best_tag, bad = float("inf"), None, None, 0
shuffle = np.random.default_rng(7)
for name, pool, epochs in stages:
    for ep in range(1, epochs + 1):
        order = shuffle.permutation(pool)
        tot, nb = 0.0, 0
        for s in range(0, len(order) - BATCH + 1, BATCH):
            idx = mx.array(order[s:s + BATCH])
            loss = step(x_tr[idx], y_tr[idx])
            mx.eval(state, loss)
            tot += loss.item()
            nb += 1
        logits = model(x_va)
        ce = nn.losses.cross_entropy(logits, y_va, reduction="mean").item()
        acc = 100.0 * mx.mean(mx.argmax(logits, 1) == y_va).item()
        log.info("%-4s %3d%%|%s| %d/%d [train %.4f, val %.4f, hit %.1f%%]",
                 name, round(100 * ep / epochs), bar(ep / epochs), ep, epochs, tot / nb, ce, acc)
        if name == "all":
            if ce < best_ce - 1e-4:
                best_ce, bad, best_tag = ce, 0, ep
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
            else:
                bad += 1
                if bad >= PATIENCE:
                    log.warning("no val gain for %d epochs, stopping stage '%s' at %d", PATIENCE, name, ep)
                    break

model.update(best_params)
mx.eval(model.parameters())
logits = model(x_va)
acc = 100.0 * mx.mean(mx.argmax(logits, 1) == y_va).item()
log.info("restored epoch %d of stage 'all': val %.4f, hit %.1f%% (majority class %.1f%%)",
         best_tag, nn.losses.cross_entropy(logits, y_va, reduction="mean").item(), acc,
         100.0 * max(mx.mean(y_va == c).item() for c in range(3)))
