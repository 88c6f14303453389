"""Allotment survey: caption 8x8 plot photos as '<crop> <rows> <state>'.

Tiny encoder-decoder transformer (patch encoder + cross-attention decoder),
label-smoothed cross-entropy, scheduled sampling, warm-up from lr 0,
checkpoint half way and resume into freshly built model and optimizer.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

CROPS = ["wheat", "kale", "beet", "carrot"]
CROP_RGB = np.array([[0.95, 0.85, 0.2], [0.15, 0.7, 0.25], [0.55, 0.1, 0.45], [0.95, 0.5, 0.1]], np.float32)
ROWS = ["one", "two", "three"]
STATES = ["young", "ripe"]
VOCAB = ["<bos>", "<eos>"] + CROPS + ROWS + STATES
BOS, EOS = 0, 1
V = len(VOCAB)
D, HEADS = 64, 4
SMOOTH = 0.1


def make_split(n, rng):
    crop = rng.integers(0, 4, n)
    rows = rng.integers(0, 3, n)
    state = rng.integers(0, 2, n)
    img = np.full((n, 8, 8, 3), 0.35, np.float32) * np.array([0.6, 0.45, 0.3], np.float32)  # soil
    for k in range(n):
        bright = 0.55 if state[k] == 0 else 1.0
        start = rng.integers(0, 2)
        for r in range(rows[k] + 1):
            y = start + 3 * r
            if y < 8:
                img[k, y, 1:7] = CROP_RGB[crop[k]] * bright
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    toks = np.stack([np.full(n, BOS), 2 + crop, 6 + rows, 9 + state, np.full(n, EOS)], 1).astype(np.int32)
    return img, toks


class Captioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(48, D)
        self.patch_pos = mx.random.normal((4, D)) * 0.02
        self.enc = nn.TransformerEncoderLayer(D, HEADS, 2 * D)
        self.enc_norm = nn.LayerNorm(D)
        self.tok = nn.Embedding(V, D)
        self.tok_pos = nn.Embedding(8, D)
        self.dec = [nn.TransformerDecoderLayer(D, HEADS, 2 * D) for _ in range(1)]
        self.dec_norm = nn.LayerNorm(D)
        self.out = nn.Linear(D, V)

    def encode(self, img):
        b = img.shape[0]
        p = img.reshape(b, 2, 4, 2, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(b, 4, 48)
        h = self.patch(p) + self.patch_pos
        return self.enc_norm(self.enc(h, None))

    def decode(self, mem, tokens):
        t = tokens.shape[1]
        h = self.tok(tokens) + self.tok_pos(mx.arange(t))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(t)
        for layer in self.dec:
            h = layer(h, mem, mask, None)
        return self.out(self.dec_norm(h))

    def __call__(self, img, tokens):
        return self.decode(self.encode(img), tokens)


def loss_fn(model, img, inp, tgt):
    logits = model(img, inp)
    return nn.losses.cross_entropy(logits, tgt, label_smoothing=SMOOTH, reduction="mean")


def greedy(model, img):
    mem = model.encode(img)
    seq = mx.full((img.shape[0], 1), BOS, dtype=mx.int32)
    for _ in range(4):
        nxt = mx.argmax(model.decode(mem, seq)[:, -1], axis=-1).astype(mx.int32)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return np.array(seq)


def build(schedule):
    model = Captioner()
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
    return model, opt


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    xtr, ytr = make_split(4000, rng)
    xte, yte = make_split(600, rng)
    print(f"train {len(xtr)} photos, test {len(xte)} photos, vocab {V}, 24 distinct captions")

    # smallest reachable loss with label smoothing (model puts exactly the smoothed mass)
    q_hi = 1 - SMOOTH + SMOOTH / V
    q_lo = SMOOTH / V
    floor = -(q_hi * math.log(q_hi) + (V - 1) * q_lo * math.log(q_lo))
    print(f"label smoothing {SMOOTH}: loss floor {floor:.4f} (chance {math.log(V):.4f})")

    steps, half, bs, warm = 240, 120, 64, 24
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, steps - warm, 2e-5)], [warm])
    model, opt = build(schedule)
    mx.eval(model.parameters())
    step_fn = nn.value_and_grad(model, loss_fn)

    ckdir = tempfile.mkdtemp("", "allot_")
    step = 0
    while step < steps:
        if step == half:
            model.save_weights(os.path.join(ckdir, "model.safetensors"))
            mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
            print(f"checkpoint at step {step} -> {ckdir}; rebuilding model and optimizer from disk")
            model, opt = build(schedule)
            model.load_weights(os.path.join(ckdir, "model.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            print(f"resumed: optimizer step {int(opt.state['step'])}, lr {opt.learning_rate.item():.2e}")

        idx = rng.integers(0, len(xtr), bs)
        img = mx.array(xtr[idx])
        toks = ytr[idx]
        inp, tgt = toks[:, :-1].copy(), mx.array(toks[:, 1:])
        # scheduled sampling: feed back the model's own guesses with probability p
        p_own = 0.3 * min(1.0, step / half)
        if p_own > 0:
            guess = np.array(mx.argmax(mx.stop_gradient(model(img, mx.array(inp))), axis=-1))
            swap = rng.random((bs, 3)) < p_own
            inp[:, 1:] = np.where(swap, guess[:, :3], inp[:, 1:])
        model.train()
        loss, grads = step_fn(model, img, mx.array(inp), tgt)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step == 1 or step % 20 == 0:
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  own-token p {p_own:.2f}  "
                  f"loss {loss.item():.4f}  (floor {floor:.4f})")

    model.eval()
    pred = greedy(model, mx.array(xte))
    exact = float(np.mean(np.all(pred[:, 1:] == yte[:, 1:], axis=1)))
    slot = np.mean(pred[:, 1:4] == yte[:, 1:4], axis=0)
    caps, counts = np.unique(ytr[:, 1:4], axis=0, return_counts=True)
    major = caps[np.argmax(counts)]
    base = float(np.mean(np.all(yte[:, 1:4] == major, axis=1)))
    te_loss = loss_fn(model, mx.array(xte), mx.array(yte[:, :-1]), mx.array(yte[:, 1:])).item()
    print(f"test teacher-forced loss {te_loss:.4f} (floor {floor:.4f})")
    print(f"test greedy exact caption {exact:.3f}  vs most-common-caption baseline {base:.3f}")
    print(f"slot accuracy crop {slot[0]:.3f} rows {slot[1]:.3f} state {slot[2]:.3f}")
    for k in range(3):
        print("  example:", " ".join(VOCAB[t] for t in pred[k, 1:4]), "| truth:",
              " ".join(VOCAB[t] for t in yte[k, 1:4]))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
