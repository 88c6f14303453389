"""Herbarium sheet captioner: a tiny vision-language model in MLX.

Synthetic 8x8 RGB 'pressed specimen' scans (leaf outline x pigment x stamp corner)
are captioned with three words.  Three stages:
  warm    - the language model alone, captions without the scan (text prior)
  align   - the LM is reloaded from its saved weights; its token/position
            embeddings and output head stay frozen while the patch encoder,
            projector and transformer blocks learn (lr warm-up from exactly zero)
  joint   - everything trains, cosine decay
The scan is a prefix: 4 image tokens + 2 prompt tokens attend to each other
freely, caption tokens are causal.  Only caption tokens carry loss.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SHAPES = ["ovate", "lanceolate", "cordate", "palmate"]
PIGMENTS = ["green", "ochre", "umber"]
CORNERS = ["ne", "nw", "se", "sw"]
VOCAB = ["<pad>", "<bos>", "<describe>", "<eos>"] + SHAPES + PIGMENTS + CORNERS
TOK = {w: i for i, w in enumerate(VOCAB)}
N_IMG, N_PROMPT, N_CAP = 4, 2, 4  # caption = shape pigment corner <eos>
SEQ = N_IMG + N_PROMPT + N_CAP

rng = np.random.default_rng(313)

TEMPLATES = np.zeros((4, 8, 8), np.float32)
yy, xx = np.mgrid[0:8, 0:8] / 7.0
TEMPLATES[0] = ((xx - 0.5) ** 2 / 0.12 + (yy - 0.5) ** 2 / 0.2) < 1
TEMPLATES[1] = (np.abs(xx - 0.5) < 0.1 + 0.12 * (1 - np.abs(yy - 0.5) * 2)) & (np.abs(yy - 0.5) < 0.5)
TEMPLATES[2] = (((xx - 0.35) ** 2 + (yy - 0.3) ** 2) < 0.06) | (((xx - 0.65) ** 2 + (yy - 0.3) ** 2) < 0.06) | ((np.abs(xx - 0.5) < 0.45 - 0.5 * yy) & (yy > 0.3))
TEMPLATES[3] = ((np.abs(xx - 0.5) < 0.08) | (np.abs(yy - 0.5) < 0.08) | (np.abs(xx - yy) < 0.1) | (np.abs(xx + yy - 1) < 0.1))
PIG_RGB = np.array([[0.2, 0.8, 0.2], [0.8, 0.6, 0.1], [0.45, 0.3, 0.15]], np.float32)
CORNER_PIX = [(0, 7), (0, 0), (7, 7), (7, 0)]


def make_set(n):
    s = rng.integers(0, 4, n)
    p = rng.integers(0, 3, n)
    c = rng.integers(0, 4, n)
    img = TEMPLATES[s][..., None] * PIG_RGB[p][:, None, None, :]
    img = img + rng.normal(0, 0.12, img.shape).astype(np.float32)
    for i in range(n):
        r0, c0 = CORNER_PIX[c[i]]
        r1, c1 = max(r0 - 1, 0), max(c0 - 1, 0)
        img[i, r1:r1 + 2, c1:c1 + 2, :] = 1.0
    toks = np.full((n, SEQ), TOK["<pad>"], np.int32)
    toks[:, N_IMG] = TOK["<bos>"]
    toks[:, N_IMG + 1] = TOK["<describe>"]
    toks[:, N_IMG + 2] = np.array([TOK[w] for w in SHAPES])[s]
    toks[:, N_IMG + 3] = np.array([TOK[w] for w in PIGMENTS])[p]
    toks[:, N_IMG + 4] = np.array([TOK[w] for w in CORNERS])[c]
    toks[:, N_IMG + 5] = TOK["<eos>"]
    return img.astype(np.float32), toks


def prefix_lm_mask():
    n_prefix = N_IMG + N_PROMPT
    m = np.tril(np.ones((SEQ, SEQ), bool))
    m[:n_prefix, :n_prefix] = True
    return mx.array(np.where(m, 0.0, -1e9).astype(np.float32))


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class TextLM(nn.Module):
    def __init__(self, d=32, heads=2, layers=2):
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), d)
        self.pos = nn.Embedding(SEQ, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(VOCAB))

    def __call__(self, toks, img_tokens, mask):
        x = self.embed(toks)
        if img_tokens is not None:
            x = mx.concatenate([img_tokens, x[:, N_IMG:]], axis=1)
        else:
            x = x * mx.array([0.0] * N_IMG + [1.0] * (SEQ - N_IMG))[None, :, None]
        x = x + self.pos(mx.arange(SEQ))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


class VisionTower(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.patch = nn.Linear(4 * 4 * 3, 96)
        self.proj = nn.Sequential(nn.GELU(), nn.Linear(96, d), nn.LayerNorm(d))

    def __call__(self, img):
        b = img.shape[0]
        p = img.reshape(b, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, 4, 48)
        return self.proj(self.patch(p))


class Captioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = VisionTower()
        self.lm = TextLM()

    def __call__(self, img, toks, mask, use_image=True):
        return self.lm(toks, self.vision(img) if use_image else None, mask)


def caption_loss(model, img, toks, mask, use_image):
    logits = model(img, toks, mask, use_image)
    # position t predicts token t+1; only the 4 caption tokens are targets
    lg = logits[:, N_IMG + 1:SEQ - 1]
    tg = toks[:, N_IMG + 2:]
    return nn.losses.cross_entropy(lg, tg, reduction="mean")


def evaluate(model, img, toks, mask, use_image):
    logits = model(img, toks, mask, use_image)
    lg = logits[:, N_IMG + 1:SEQ - 1]
    tg = toks[:, N_IMG + 2:]
    ce = nn.losses.cross_entropy(lg, tg, reduction="mean")
    hit = (mx.argmax(lg, axis=-1) == tg)
    return ce.item(), 100 * mx.mean(hit).item(), 100 * mx.mean(mx.all(hit, axis=1)).item()


def run_stage(name, model, opt, steps, use_image, data, val, mask, report_every, t0):
    xi, xt = data
    vi, vt = val
    lg = nn.value_and_grad(model, caption_loss)
    window = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, xi.shape[0], 64))
        loss, grads = lg(model, xi[idx], xt[idx], mask, use_image)
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if mx.abs(g).max().item() == 0]
            print(f"  [{name}] gradient leaves {len(flat)}, all-zero {len(zero)}, "
                  f"trainable {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % report_every == 0 or step == 1:
            ce, tok_acc, exact = evaluate(model, vi, vt, mask, use_image)
            lr = opt.learning_rate.item()
            print(f"  [{name}] step {step:4d}  lr {lr:.2e}  train ce {np.mean(window):.4f}  "
                  f"val ce {ce:.4f}  word acc {tok_acc:5.1f}%  exact {exact:5.1f}%  "
                  f"t {time.time() - t0:5.1f}s")
            window = []


def main():
    mx.random.seed(313)
    t0 = time.time()
    tr_img, tr_tok = make_set(6000)
    va_img, va_tok = make_set(600)
    data = (mx.array(tr_img), mx.array(tr_tok))
    val = (mx.array(va_img), mx.array(va_tok))
    mask = prefix_lm_mask()
    floor = (math.log(4) + math.log(3) + math.log(4) + 0.0) / 4
    print(f"herbarium captioner | train {tr_img.shape[0]} sheets, val {va_img.shape[0]} | vocab {len(VOCAB)}")
    print(f"reference: caption CE without the scan cannot go below {floor:.4f} nats/word; "
          f"chance exact match {100 / 48:.1f}%")

    model = Captioner()
    print("stage warm: language model on captions only (no scan)")
    model.vision.freeze()
    opt = optim.Adam(learning_rate=3e-3)
    run_stage("warm", model, opt, 120, False, data, val, mask, 40, t0)

    ckpt = os.path.join(tempfile.mkdtemp(), "lm_warm.safetensors")
    model.lm.save_weights(ckpt)
    saved = dict(tree_flatten(model.lm.parameters()))
    model = Captioner()
    model.lm.load_weights(ckpt)
    same = all(mx.array_equal(v, saved[k]).item() for k, v in tree_flatten(model.lm.parameters()))
    print(f"checkpoint {os.path.basename(ckpt)} reloaded into a fresh captioner: weights identical = {same}")

    print("stage align: LM embeddings and head frozen, vision tower and blocks learn")
    model.lm.freeze(keys=None)
    model.lm.blocks[0].unfreeze()
    model.lm.blocks[1].unfreeze()
    model.lm.ln.unfreeze()
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 60), optim.linear_schedule(2e-3, 2e-3, 1)], [60])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    frozen_before = {k: v for k, v in tree_flatten(model.lm.parameters()) if k.split(".")[0] in ("embed", "pos", "head")}
    run_stage("align", model, opt, 200, True, data, val, mask, 50, t0)
    now = dict(tree_flatten(model.lm.parameters()))
    moved = max(mx.abs(now[k] - v).max().item() for k, v in frozen_before.items())
    print(f"  [align] largest change in frozen embeddings/head: {moved:.1e}")

    print("stage joint: all weights, cosine decay")
    model.unfreeze()
    opt = optim.AdamW(learning_rate=optim.cosine_decay(1e-3, 200, 1e-5), weight_decay=1e-4)
    run_stage("joint", model, opt, 200, True, data, val, mask, 50, t0)

    ce, acc, exact = evaluate(model, *val, mask, True)
    ce0, acc0, exact0 = evaluate(model, *val, mask, False)
    print(f"final val: with scan ce {ce:.4f} exact {exact:.1f}% | scan blanked ce {ce0:.4f} exact {exact0:.1f}%")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
