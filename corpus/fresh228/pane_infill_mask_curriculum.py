# Stained-glass restoration toy: each 8x8 window uses one random 4-colour palette
# laid out in concentric rings (plus a few mismatched replacement panes). Panes are
# hidden at random and the model guesses a hidden pane's colour from its 8
# neighbours (hidden neighbours show a MASK token) and its position. Cross-entropy
# counts hidden panes only. Three stages hide more panes each time (15% -> 35% ->
# 55%), so the loss jumps up at each stage start. Each stage restarts its step
# counter and warms the learning rate up from exactly 0.
import logging
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s glassworks: %(message)s")
log = logging.getLogger("infill")

G, C, MASK, PAD = 8, 6, 6, 7
rng = np.random.default_rng(2290)
mx.random.seed(2290)

ring = np.minimum(np.minimum(np.arange(G)[:, None], np.arange(G)[None, :]),
                  np.minimum(G - 1 - np.arange(G)[:, None], G - 1 - np.arange(G)[None, :]))


def windows(n):
    out = np.empty((n, G, G), dtype=np.int32)
    for k in range(n):
        pal = rng.permutation(C)[:4]
        w = pal[ring]
        bad = rng.random((G, G)) < 0.04
        w[bad] = rng.integers(0, C, size=bad.sum())
        out[k] = w
    return out


train_w = windows(700)
val_w = windows(150)

OFFS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def neighbourhood(win, hidden):
    """win, hidden: (B,8,8) -> tokens (B*64, 8) with MASK for hidden neighbours, PAD outside."""
    shown = np.where(hidden, MASK, win)
    padded = np.pad(shown, ((0, 0), (1, 1), (1, 1)), constant_values=PAD)
    cols = [padded[:, 1 + di : 1 + di + G, 1 + dj : 1 + dj + G] for di, dj in OFFS]
    return np.stack(cols, axis=-1).reshape(-1, 8)


POS = np.tile(np.arange(G * G), 1)


class PaneGuesser(nn.Module):
    def __init__(self, d=16, hidden=96):
        super().__init__()
        self.tok = nn.Embedding(8, d)
        self.slot = nn.Embedding(8, d)
        self.pos = nn.Embedding(G * G, d)
        self.mlp = nn.Sequential(nn.Linear(9 * d, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, C))

    def __call__(self, toks, pos):
        n = toks.shape[0]
        t = self.tok(toks) + self.slot.weight[None, :, :]
        x = mx.concatenate([t.reshape(n, -1), self.pos(pos)], axis=1)
        return self.mlp(x)


model = PaneGuesser()
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def masked_ce(model, toks, pos, target, weight):
    logits = model(toks, pos)
    ce = nn.losses.cross_entropy(logits, target, reduction="none")
    return (ce * weight).sum() / mx.maximum(weight.sum(), 1.0)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(toks, pos, target, weight):
    loss, grads = nn.value_and_grad(model, masked_ce)(model, toks, pos, target, weight)
    opt.update(model, grads)
    return loss


def batch(wins, ratio, gen):
    hidden = gen.random(wins.shape) < ratio
    toks = neighbourhood(wins, hidden)
    pos = np.tile(np.arange(G * G), wins.shape[0])
    return (mx.array(toks), mx.array(pos.astype(np.int32)),
            mx.array(wins.reshape(-1)), mx.array(hidden.reshape(-1).astype(np.float32)))


def evaluate(ratio):
    toks, pos, tgt, w = batch(val_w, ratio, np.random.default_rng(99))
    logits = model(toks, pos)
    loss = (nn.losses.cross_entropy(logits, tgt, reduction="none") * w).sum() / w.sum()
    hit = ((mx.argmax(logits, axis=1) == tgt).astype(mx.float32) * w).sum() / w.sum()
    # reference: most common colour among a hidden pane's visible neighbours
    t = np.array(toks)
    votes = np.stack([(t == c).sum(1) for c in range(C)], axis=1)
    vote = votes.argmax(1)
    wn = np.array(w)
    ref = float(((vote == np.array(tgt)) * wn).sum() / wn.sum())
    return loss.item(), 100.0 * hit.item(), 100.0 * ref


STAGES = [("open", 0.15, 110, 4e-3), ("cracked", 0.35, 110, 2.5e-3), ("shattered", 0.55, 130, 2e-3)]
gen = np.random.default_rng(5)
B = 8
for name, ratio, steps, peak in STAGES:
    warm = 20
    log.info("stage %s: hiding %d%% of panes, %d steps, peak lr %.1e", name, int(ratio * 100), steps, peak)
    run = 0.0
    for s in range(steps):
        lr = peak * s / warm if s < warm else 0.5 * peak * (1 + math.cos(math.pi * (s - warm) / (steps - warm)))
        opt.learning_rate = lr
        pick = gen.integers(0, train_w.shape[0], size=B)
        loss = step(*batch(train_w[pick], ratio, gen))
        mx.eval(state, loss)
        run = loss.item() if s == 0 else 0.9 * run + 0.1 * loss.item()
        if s % 25 == 0 or s == steps - 1:
            log.info("stage=%s step=%d/%d lr=%.2e masked_ce=%.4f (ema %.4f)", name, s, steps, lr, loss.item(), run)
    vl, acc, ref = evaluate(ratio)
    log.info("stage %s done: val masked_ce=%.4f hidden-pane acc=%.1f%% | neighbour-vote reference=%.1f%% | chance=%.1f%%",
             name, vl, acc, ref, 100.0 / C)

for ratio in (0.15, 0.35, 0.55):
    vl, acc, ref = evaluate(ratio)
    log.info("final @%d%% hidden: masked_ce=%.4f acc=%.1f%% reference=%.1f%%", int(ratio * 100), vl, acc, ref)
