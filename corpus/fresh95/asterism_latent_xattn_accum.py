"""Star-hopping aid: name the asterism from a small, padded set of star readings.

Each sample is an unordered set of 5-8 template stars (x, y, magnitude) drawn
from one of 6 made-up asterisms, randomly rotated (+-35 deg), scaled and
jittered, plus 0-3 faint distractor stars, padded to 12 points with a mask.

Model: a Perceiver-style reader - a learned latent array (raw mx.array
attribute) cross-attends to the embedded stars with a key padding mask built
with mx.where, then one latent self-attention block and a mean-pooled head.

Training uses gradient accumulation: 4 micro-batches of 32 per optimizer step,
each micro-batch gradient weighted by its share of the examples in the step;
the micro-batches left at the end of an epoch form a smaller final step of
their own (nothing is dropped).  Reports go through the logging module.
"""

import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s | %(message)s")
log = logging.getLogger("asterism")

NAMES = ["kite", "sickle", "dipper", "crown", "arrow", "chair"]
MAXP = 12
rng = np.random.default_rng(11)
TEMPLATES = [rng.uniform(-1, 1, size=(rng.integers(5, 9), 2)).astype(np.float32) for _ in NAMES]
TEMPLATE_MAG = [rng.uniform(0.0, 1.0, size=(len(t),)).astype(np.float32) for t in TEMPLATES]


def make_sets(n):
    x = np.zeros((n, MAXP, 3), np.float32)
    mask = np.zeros((n, MAXP), bool)
    y = rng.integers(0, len(NAMES), size=n).astype(np.int32)
    for i in range(n):
        t, m = TEMPLATES[y[i]], TEMPLATE_MAG[y[i]]
        a = np.deg2rad(rng.uniform(-35, 35))
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]], np.float32)
        pts = (t @ rot.T) * rng.uniform(0.8, 1.2) + rng.normal(0, 0.05, size=t.shape)
        mags = m + rng.normal(0, 0.08, size=m.shape)
        k = rng.integers(0, 4)
        dpts = rng.uniform(-1.3, 1.3, size=(k, 2))
        dmag = rng.uniform(1.1, 1.6, size=(k,))
        allp = np.concatenate([pts, dpts])
        allm = np.concatenate([mags, dmag])
        order = rng.permutation(len(allp))
        cnt = len(order)
        x[i, :cnt, :2] = allp[order]
        x[i, :cnt, 2] = allm[order]
        mask[i, :cnt] = True
    return x, mask, y


class LatentReader(nn.Module):
    def __init__(self, n_classes, d=32, n_latents=6):
        super().__init__()
        self.latents = 0.2 * mx.random.normal((n_latents, d))
        self.embed = nn.Linear(3, d)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.ln1 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.ln2 = nn.LayerNorm(d)
        self.self_attn = nn.MultiHeadAttention(d, 4)
        self.head = nn.Linear(d, n_classes)
        self.scale = 1.0 / math.sqrt(d)

    def __call__(self, pts, mask):
        e = nn.gelu(self.embed(pts))                        # (B, N, d)
        q = self.q(self.latents)                            # (L, d)
        s = (self.k(e) @ q.T).transpose(0, 2, 1) * self.scale   # (B, L, N)
        s = mx.where(mask[:, None, :], s, -1e9)
        att = mx.softmax(s, axis=-1)
        z = self.latents + att @ self.v(e)                  # (B, L, d)
        z = z + self.ff(self.ln1(z))
        h = self.ln2(z)
        z = z + self.self_attn(h, h, h)
        return self.head(z.mean(axis=1))


def loss_fn(model, pts, mask, y):
    return nn.losses.cross_entropy(model(pts, mask), y, reduction="mean")


def evaluate(model, x, m, y, bs=500):
    hits, rank_sum, ce = 0, 0.0, 0.0
    for i in range(0, len(x), bs):
        logits = model(mx.array(x[i:i + bs]), mx.array(m[i:i + bs]))
        yy = mx.array(y[i:i + bs])
        ce += nn.losses.cross_entropy(logits, yy, reduction="sum").item()
        true_logit = mx.take_along_axis(logits, yy[:, None], axis=1)
        rank = (logits > true_logit).sum(axis=1) + 1         # 1 = best
        rank_sum += rank.sum().item()
        hits += (rank == 1).sum().item()
    n = len(x)
    return ce / n, 100.0 * hits / n, rank_sum / n


def main():
    mx.random.seed(5)
    t0 = time.perf_counter()
    x_tr, m_tr, y_tr = make_sets(3000)
    x_va, m_va, y_va = make_sets(1000)
    log.info("data train=%d valid=%d classes=%s prep=%.1fs", len(x_tr), len(x_va),
             "/".join(NAMES), time.perf_counter() - t0)

    model = LatentReader(len(NAMES))
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=optim.step_decay(2e-3, 0.5, 120), weight_decay=1e-3)
    vg = nn.value_and_grad(model, loss_fn)

    ce0, acc0, rank0 = evaluate(model, x_va, m_va, y_va)
    log.info("untrained valid ce=%.3f top1=%.1f%% mean_rank=%.2f (chance ce=%.3f)",
             ce0, acc0, rank0, math.log(len(NAMES)))

    MICRO, ACCUM, EPOCHS = 32, 4, 12
    opt_steps = 0
    for epoch in range(1, EPOCHS + 1):
        perm = rng.permutation(len(x_tr))
        micro = [perm[i:i + MICRO] for i in range(0, len(perm), MICRO)]
        groups = [micro[i:i + ACCUM] for i in range(0, len(micro), ACCUM)]
        seen, loss_sum = 0, 0.0
        for group in groups:
            total = sum(len(ix) for ix in group)
            acc = None
            for ix in group:
                loss, g = vg(model, mx.array(x_tr[ix]), mx.array(m_tr[ix]), mx.array(y_tr[ix]))
                w = len(ix) / total
                g = tree_map(lambda a: a * w, g)
                acc = g if acc is None else tree_map(mx.add, acc, g)
                mx.eval(acc, loss)
                loss_sum += loss.item() * len(ix)
                seen += len(ix)
            if opt_steps == 0:
                flat = tree_flatten(acc)
                dead = [k for k, a in flat if mx.abs(a).max().item() == 0.0]
                log.info("first step: %d gradient leaves, zero-gradient leaves: %s",
                         len(flat), dead or "none")
                if dead:
                    raise SystemExit(1)
            opt.update(model, acc)
            mx.eval(model.parameters(), opt.state)
            opt_steps += 1
        assert seen == len(x_tr)
        if epoch in (1, 2, 3) or epoch % 3 == 0:
            ce, top1, rank = evaluate(model, x_va, m_va, y_va)
            log.info("epoch %2d steps=%d lr=%.2e train_ce=%.3f valid_ce=%.3f top1=%.1f%% "
                     "mean_rank=%.2f %.1fs", epoch, opt_steps, opt.learning_rate.item(),
                     loss_sum / seen, ce, top1, rank, time.perf_counter() - t0)
    log.info("done after %d optimizer steps (%d per epoch, last one of each epoch uses %d examples)",
             opt_steps, len(groups), sum(len(ix) for ix in groups[-1]))


if __name__ == "__main__":
    main()
