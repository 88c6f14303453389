"""Find the head of a cuneiform wedge on a 16x16 tablet crop.

Stage 1 trains on freshly photographed tablets; stage 2 moves to weathered
tablets (more grain + eroded blotches), keeps the conv backbone frozen and only
fine-tunes the heatmap / length heads.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s | %(message)s")
log = logging.getLogger("tablets")

H = W = 12
rng = np.random.default_rng(7)
DIRS = np.array([[1, 0], [0, 1], [0.7071, 0.7071], [0.7071, -0.7071]], dtype=np.float32)


def make_tablets(n, grain, blotches):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    cx = rng.uniform(2, 9.5, n).astype(np.float32)
    cy = rng.uniform(2, 9.5, n).astype(np.float32)
    d = DIRS[rng.integers(0, 4, n)]
    length = rng.uniform(2.0, 5.0, n).astype(np.float32)
    # wedge head: a bright blob; tail: a fainter stroke from the head along d
    head = np.exp(-((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2) / 1.6)
    px = xx[None] - cx[:, None, None]
    py = yy[None] - cy[:, None, None]
    t = px * d[:, 0, None, None] + py * d[:, 1, None, None]
    perp = np.abs(px * d[:, 1, None, None] - py * d[:, 0, None, None])
    tail = ((t > 0) & (t < length[:, None, None]) & (perp < 0.7)).astype(np.float32) * 0.55
    img = np.maximum(head, tail) + grain * rng.standard_normal((n, H, W)).astype(np.float32)
    for _ in range(blotches):
        bx, by = rng.uniform(0, W, n), rng.uniform(0, H, n)
        blot = np.exp(-((xx - bx[:, None, None]) ** 2 + (yy - by[:, None, None]) ** 2) / 3.0)
        img = img - 0.5 * blot * rng.uniform(0.3, 1.0, (n, 1, 1))
    target = np.clip(np.round(cy), 0, H - 1).astype(np.int32) * W + np.clip(np.round(cx), 0, W - 1).astype(np.int32)
    return (mx.array(img[..., None].astype(np.float32)), mx.array(target),
            mx.array(length), np.stack([cx, cy], 1))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        return nn.relu(self.c2(x))


class WedgeFinder(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.heat = nn.Conv2d(16, 1, 1)
        self.length = nn.Linear(16, 1)

    def __call__(self, x):
        f = self.backbone(x)                      # (B, H, W, C)  NHWC
        heat = self.heat(f).reshape(x.shape[0], H * W)
        ln = self.length(f.mean(axis=(1, 2))).squeeze(-1)
        return heat, ln


def losses(model, x, tgt, length):
    heat, ln = model(x)
    l_heat = nn.losses.cross_entropy(heat, tgt, reduction="mean")
    l_len = 0.1 * ((ln - length) ** 2).mean()
    return l_heat + l_len, (l_heat, l_len)


def evaluate(model, x, tgt, length, centres):
    heat, ln = model(x)
    idx = np.array(mx.argmax(heat, axis=1))
    px = np.stack([idx % W, idx // W], 1).astype(np.float32)
    err = np.sqrt(((px - centres) ** 2).sum(1))
    len_mae = float(mx.abs(ln - length).mean())
    return float(err.mean()), 100.0 * float((err <= 1.0).mean()), len_mae


def grad_norm(tree):
    leaves = [v for _, v in nn.utils.tree_flatten(tree)]
    return math.sqrt(sum(float((g * g).sum()) for g in leaves)) if leaves else 0.0


mx.random.seed(7)
model = WedgeFinder()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, losses)

STAGES = [
    dict(name="fresh", grain=0.35, blotches=0, epochs=4, peak=0.08, warm=15, freeze=False),
    dict(name="weathered", grain=0.75, blotches=3, epochs=4, peak=0.03, warm=8, freeze=True),
]
BATCH = 64
t0 = time.time()
for st in STAGES:
    xtr, ttr, ltr, _ = make_tablets(1024, st["grain"], st["blotches"])
    xva, tva, lva, cva = make_tablets(400, st["grain"], st["blotches"])
    if st["freeze"]:
        model.backbone.freeze()
    n_trainable = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
    base_px = float(np.sqrt(((cva - cva.mean(0)) ** 2).sum(1)).mean())
    log.info("stage=%s trainable=%d params, centre-guess baseline %.2f px", st["name"], n_trainable, base_px)
    before = {k: np.array(v) for k, v in nn.utils.tree_flatten(model.backbone.parameters())}
    steps_per_ep = 1024 // BATCH
    total = st["epochs"] * steps_per_ep
    step = 0
    for ep in range(1, st["epochs"] + 1):
        perm = mx.array(rng.permutation(1024))
        run, run_h, run_l = 0.0, 0.0, 0.0
        for b in range(steps_per_ep):
            # linear warm-up from exactly 0, then cosine decay, restarted every stage
            if step < st["warm"]:
                lr = st["peak"] * step / st["warm"]
            else:
                lr = 0.5 * st["peak"] * (1 + math.cos(math.pi * (step - st["warm"]) / (total - st["warm"])))
            opt.learning_rate = lr
            ids = perm[b * BATCH:(b + 1) * BATCH]
            (loss, (lh, ll)), grads = step_fn(model, xtr[ids], ttr[ids], ltr[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, lh, ll)
            run += loss.item(); run_h += lh.item(); run_l += ll.item()
            step += 1
        vpx, vhit, vlen = evaluate(model, xva, tva, lva, cva)
        log.info("stage=%s ep %d/%d lr=%.4f loss=%.3f (heat %.3f + len %.3f) val_px=%.2f hit@1px=%.1f%% len_mae=%.2f px",
                 st["name"], ep, st["epochs"], lr, run / steps_per_ep, run_h / steps_per_ep,
                 run_l / steps_per_ep, vpx, vhit, vlen)
    drift = math.sqrt(sum(float(((np.array(v) - before[k]) ** 2).sum())
                          for k, v in nn.utils.tree_flatten(model.backbone.parameters())))
    gn = grad_norm(grads)
    log.info("AUDIT stage=%s backbone drift |dW|=%.3e (%s), last grad norm over trainable=%.3e",
             st["name"], drift, "frozen on purpose" if st["freeze"] else "trained", gn)

log.info("done in %.1f s", time.time() - t0)
