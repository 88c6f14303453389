"""Container-yard drone thumbnails: locate the container of a named colour.

Pix2Seq-style grounding with a tiny vision-language model: a colour word,
then 9 patch tokens, and the answer is 4 quantised coordinate tokens + eos.
Training stops half way, writes a checkpoint (weights + optimizer state),
and a fresh process-like restart loads it and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

IMG = 12
PATCH = 4
NPATCH = (IMG // PATCH) ** 2
BINS = IMG // PATCH
COLOURS = ["red", "green", "blue", "yellow"]
RGB = np.array([[1.0, 0.1, 0.1], [0.1, 0.9, 0.2], [0.15, 0.2, 1.0], [1.0, 0.9, 0.1]], np.float32)
# vocabulary: 0 pad, 1 bos, 2 eos, 3 sep, 4 img, 5 loc, 6..9 colours, 10..12 slot coordinates
BOS, EOS, SEP, IMG_TOK, LOC, COL0, BIN0 = 1, 2, 3, 4, 5, 6, 10
VOCAB = BIN0 + BINS
SMOOTH = 0.1


def scene(rng):
    # one container per thumbnail, on the yard grid (whole 4x4 pixel slots),
    # plus two dark crane shadows that are not containers
    img = rng.normal(0.35, 0.05, size=(3, IMG, IMG)).astype(np.float32)
    for _ in range(2):
        sy, sx = rng.integers(0, IMG - 3, size=2)
        img[:, sy:sy + 3, sx:sx + 3] = 0.12
    c = int(rng.integers(0, 4))
    h, w = rng.integers(1, 3, size=2)
    y0, x0 = rng.integers(0, BINS + 1 - h), rng.integers(0, BINS + 1 - w)
    py, px = y0 * PATCH, x0 * PATCH
    img[:, py:py + h * PATCH, px:px + w * PATCH] = (
        RGB[c][:, None, None] + rng.normal(0, 0.05, (3, h * PATCH, w * PATCH)))
    return img, c, (int(x0), int(y0), int(x0 + w - 1), int(y0 + h - 1))


def make_batch(rng, n):
    imgs, seqs, boxes = [], [], []
    for _ in range(n):
        img, c, box = scene(rng)
        imgs.append(img)
        seqs.append([BOS, COL0 + c, SEP] + [IMG_TOK] * NPATCH + [LOC] + [BIN0 + v for v in box] + [EOS])
        boxes.append(box)
    return mx.array(np.stack(imgs)), mx.array(np.array(seqs)), np.array(boxes)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.n1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.n2(x))


class Grounder(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.patch = nn.Linear(3 * PATCH * PATCH, d)
        self.row_pos = nn.Embedding(IMG // PATCH, d)
        self.col_pos = nn.Embedding(IMG // PATCH, d)
        self.proj = nn.Sequential(nn.GELU(), nn.Linear(d, d))
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(32, d)
        self.blocks = [Block(d) for _ in range(2)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, VOCAB)

    def __call__(self, pixels, ids):
        B, L = ids.shape
        g = IMG // PATCH
        p = pixels.reshape(B, 3, g, PATCH, g, PATCH).transpose(0, 2, 4, 1, 3, 5).reshape(B, NPATCH, -1)
        x = self.tok(ids)
        query = x[:, 1:2]  # the colour word conditions every patch (FiLM-style additive)
        grid = mx.arange(NPATCH)
        where = self.row_pos(grid // g) + self.col_pos(grid % g)
        vis = self.proj(self.patch(p) + where + query)
        x = mx.concatenate([x[:, :3], vis, x[:, 3 + NPATCH:]], axis=1)[:, :L]
        x = x + self.pos(mx.arange(L))
        # PaliGemma-style mask: prompt + image + <loc> see each other, the answer is causal
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        lead = min(L, ANS)
        mask[:lead, :lead] = 0.0
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


ANS = 3 + NPATCH + 1  # position of the first coordinate token


def loss_fn(model, pixels, ids):
    logits = model(pixels, ids[:, :-1])[:, ANS - 1:]
    targets = ids[:, ANS:]
    return nn.losses.cross_entropy(logits, targets, label_smoothing=SMOOTH, reduction="mean")


def greedy_boxes(model, pixels, ids):
    seq = ids[:, :ANS]
    for _ in range(4):
        logits = model(pixels, seq)[:, -1, BIN0:BIN0 + BINS]
        nxt = mx.argmax(logits, axis=-1) + BIN0
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return np.array(seq[:, ANS:]) - BIN0


def iou(a, b):
    ix = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]) + 1, 0, None)
    iy = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]) + 1, 0, None)
    inter = ix * iy
    area = lambda z: (np.clip(z[:, 2] - z[:, 0] + 1, 0, None) * np.clip(z[:, 3] - z[:, 1] + 1, 0, None))
    return inter / (area(a) + area(b) - inter)


def smoothing_floor():
    # best achievable mean CE when the targets are smoothed over the whole vocabulary
    q = np.full(VOCAB, SMOOTH / VOCAB)
    q[0] += 1 - SMOOTH
    return float(-(q * np.log(q)).sum())


def build(seed, total_steps):
    mx.random.seed(seed)
    model = Grounder()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, total_steps - 40, 1e-4)], [40]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    return model, opt


def train_span(model, opt, rng, start, stop, val, log):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    for step in range(start, stop + 1):
        pixels, ids, _ = make_batch(rng, 16)
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, pixels, ids)
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        window.append(loss.item())
        if step == 1 or step % 100 == 0:
            vpix, vids, vbox = val
            vloss = loss_fn(model, vpix, vids).item()
            ious = iou(greedy_boxes(model, vpix, vids), vbox)
            log(f"step={step} lr={lr_now:.2e} train_ce={np.mean(window):.4f} val_ce={vloss:.4f} "
                f"grad_norm={gnorm.item():.3f} mean_iou={ious.mean():.3f} hit50_pct={100 * (ious >= 0.5).mean():.1f}")
            window = []


def main():
    t0 = time.time()
    log = lambda s: print(f"t={time.time() - t0:5.1f}s {s}", flush=True)
    total = 800
    val = make_batch(np.random.default_rng(7), 96)
    vbox = val[2]
    whole = np.tile([0, 0, BINS - 1, BINS - 1], (len(vbox), 1))
    quad = np.array([[0, 0, 1, 1]] * len(vbox))
    log(f"event=baselines whole_image_iou={iou(whole, vbox).mean():.3f} "
        f"corner_slot_iou={iou(quad, vbox).mean():.3f} smoothing_floor_ce={smoothing_floor():.4f} "
        f"uniform_ce={np.log(VOCAB):.4f}")

    rng = np.random.default_rng(0)
    model, opt = build(0, total)
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log(f"event=start params={n_params} steps={total} batch=16 lr_sched=warmup0->3e-3/40,cosine->1e-4")
    train_span(model, opt, rng, 1, total // 2, val, log)

    ckdir = tempfile.mkdtemp(None, "quay_ckpt_")
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    probe = loss_fn(model, val[0], val[1]).item()
    log(f"event=checkpoint dir={ckdir} val_ce={probe:.4f} opt_step={int(opt.state['step'].item())}")
    rng_state = rng.bit_generator.state
    del model, opt

    model, opt = build(123, total)  # different init, overwritten by the checkpoint
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    rng = np.random.default_rng()
    rng.bit_generator.state = rng_state
    again = loss_fn(model, val[0], val[1]).item()
    log(f"event=resumed val_ce={again:.4f} delta={abs(again - probe):.2e} "
        f"opt_step={int(opt.state['step'].item())} lr={opt.learning_rate.item():.2e}")
    train_span(model, opt, rng, total // 2 + 1, total, val, log)

    vpix, vids, vb = val
    ious = iou(greedy_boxes(model, vpix, vids), vb)
    exact = float((greedy_boxes(model, vpix, vids) == vb).all(axis=1).mean())
    log(f"event=done mean_iou={ious.mean():.3f} hit50_pct={100 * (ious >= 0.5).mean():.1f} "
        f"exact_box_pct={100 * exact:.1f}")


if __name__ == "__main__":
    main()
