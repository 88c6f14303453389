# Knitting swatch reader: classify the stitch pattern of a swatch from a noisy
# 8x8 yarn-tension grid. Two stages: "clean swatches" then "handspun + slipped
# stitches" (more noise, random row shifts). Early stopping with patience per
# stage, restoring the best weights before moving on. Uses `logging`.
import logging
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)-5s swatch | %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("swatch")

PATTERNS = ["stockinette", "garter", "rib2x2", "seed", "cable4", "moss_band"]
rng = np.random.default_rng(42)


def template(p):
    r, c = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    if p == 0: g = np.ones((8, 8))
    elif p == 1: g = np.where(r % 2 == 0, 1.0, -1.0)
    elif p == 2: g = np.where((c // 2) % 2 == 0, 1.0, -1.0)
    elif p == 3: g = np.where((r + c) % 2 == 0, 1.0, -1.0)
    elif p == 4: g = np.where((c >= 2) & (c < 6) & (((r + c) // 2) % 2 == 0), 1.5, -0.5)
    else: g = np.where((r // 2) % 2 == 0, np.where(c % 2 == 0, 1.0, -1.0), 1.0)
    return g


TPL = np.stack([template(p) for p in range(len(PATTERNS))])


def swatches(n, noise, shift_prob):
    y = rng.integers(0, len(PATTERNS), size=n)
    x = TPL[y].copy()
    for i in range(n):
        if rng.random() < shift_prob:
            x[i] = np.roll(x[i], rng.integers(1, 4), axis=1)
    x += rng.normal(0, noise, size=x.shape)
    return mx.array(x.reshape(n, 64).astype(np.float32)), mx.array(y)


class SwatchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(64, 96)
        self.l2 = nn.Linear(96, 48)
        self.out = nn.Linear(48, len(PATTERNS))
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        h = self.drop(nn.relu(self.l1(x)))
        return self.out(nn.relu(self.l2(h)))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def evaluate(m, x, y):
    m.eval()
    logits = m(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    err = (mx.argmax(logits, -1) != y).astype(mx.float32).mean()
    mx.eval(loss, err)
    m.train()
    return loss.item(), err.item() * 100


mx.random.seed(0)
model = SwatchNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, loss_fn)

# sanity: every weight receives gradient
xs, ys = swatches(32, 0.5, 0.0)
_, g0 = vg(model, xs, ys)
for k, v in tree_flatten(g0):
    log.info("grad-audit %-12s |g|=%.3e", k, mx.linalg.norm(v).item())

STAGES = [("clean", 1.6, 0.0), ("handspun", 2.4, 0.35)]
BS, PATIENCE, MAX_EPOCHS = 64, 4, 25
t0 = time.time()
for s_idx, (sname, noise, shift) in enumerate(STAGES):
    xtr, ytr = swatches(2048, noise, shift)
    xva, yva = swatches(512, noise, shift)
    best, best_params, bad = float("inf"), None, 0
    log.info("=== stage %d/%d '%s' noise=%.1f shift_p=%.2f ===", s_idx + 1, len(STAGES), sname, noise, shift)
    for epoch in range(1, MAX_EPOCHS + 1):
        perm = mx.array(rng.permutation(2048))
        run = 0.0
        nb = 2048 // BS
        for b in range(nb):
            idx = perm[b * BS:(b + 1) * BS]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
        vl, ve = evaluate(model, xva, yva)
        tag = ""
        if vl < best - 1e-4:
            best, bad, tag = vl, 0, " *"
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
        else:
            bad += 1
        log.info("ep %02d [%s] train_xent=%.4f val_xent=%.4f err=%.2f%% patience=%d/%d%s",
                 epoch, "#" * epoch + "." * (MAX_EPOCHS - epoch), run / nb, vl, ve, bad, PATIENCE, tag)
        if bad >= PATIENCE:
            log.info("early stop in stage '%s' after epoch %d", sname, epoch)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    vl, ve = evaluate(model, xva, yva)
    log.info("restored best: val_xent=%.4f err=%.2f%% (chance err %.1f%%)", vl, ve, 100 * (1 - 1 / len(PATTERNS)))

log.info("finished in %.1fs", time.time() - t0)
