"""Bird-ringing station: caption leg photos with the colour-ring code.

Each synthetic 12x12 RGB photo shows one leg (left or right) with two colour
rings (upper, lower).  The ringer's ledger entry is "<side> <upper> <lower>".

Stage A  pretrain the photo encoder on the three ring attributes.
Stage B  swap the heads for a GRU caption decoder (Show-and-Tell style, photo
         feature -> initial hidden state), encoder frozen, lr warm-up from 0.
Stage C  save a checkpoint, reload it into a fresh model, verify, then
         fine-tune everything at a small constant lr.

About 8% of the training ledger entries carry a mistyped colour word, so the
training loss settles on a floor well above zero.
"""

import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

SEED = 11
COLOURS = ["red", "blue", "green", "yellow", "white"]
RGB = np.array(
    [[0.9, 0.1, 0.1], [0.1, 0.2, 0.9], [0.1, 0.8, 0.2], [0.9, 0.9, 0.1], [0.95, 0.95, 0.95]],
    dtype=np.float32,
)
VOCAB = ["<pad>", "<bos>", "<eos>", "left", "right"] + COLOURS
PAD, BOS, EOS = 0, 1, 2
V = len(VOCAB)


def render(rng, n):
    side = rng.integers(0, 2, n)
    up = rng.integers(0, 5, n)
    low = rng.integers(0, 5, n)
    img = rng.normal(0.35, 0.12, (n, 12, 12, 3)).astype(np.float32)
    for i in range(n):
        c0 = 2 + rng.integers(0, 2) if side[i] == 0 else 7 + rng.integers(0, 2)
        img[i, :, c0 : c0 + 3, :] = 0.55  # the leg
        r_up = 2 + rng.integers(0, 2)
        r_lo = 7 + rng.integers(0, 2)
        img[i, r_up : r_up + 2, c0 : c0 + 3, :] = RGB[up[i]]
        img[i, r_lo : r_lo + 2, c0 : c0 + 3, :] = RGB[low[i]]
    img += rng.normal(0, 0.08, img.shape).astype(np.float32)
    caps = np.stack([np.full(n, BOS), 3 + side, 5 + up, 5 + low, np.full(n, EOS)], 1)
    return img, side, up, low, caps.astype(np.int32)


def mistype(rng, caps, rate):
    caps = caps.copy()
    hit = rng.random(len(caps)) < rate
    pos = rng.integers(2, 4, len(caps))
    for i in np.where(hit)[0]:
        caps[i, pos[i]] = 5 + rng.integers(0, 5)
    return caps, int(hit.sum())


class PhotoEncoder(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.c1 = nn.Conv2d(3, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 24, 3, stride=2, padding=1)
        self.proj = nn.Linear(6 * 6 * 24, d)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return nn.gelu(self.proj(h.reshape(h.shape[0], -1)))


class AttributeHeads(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.side = nn.Linear(d, 2)
        self.up = nn.Linear(d, 5)
        self.low = nn.Linear(d, 5)

    def __call__(self, f):
        return self.side(f), self.up(f), self.low(f)


class CaptionDecoder(nn.Module):
    def __init__(self, d=64, e=32):
        super().__init__()
        self.init_h = nn.Linear(d, d)
        self.emb = nn.Embedding(V, e)
        self.gru = nn.GRU(e, d)
        self.out = nn.Linear(d, V)

    def __call__(self, f, tokens):
        h0 = mx.tanh(self.init_h(f))
        hs = self.gru(self.emb(tokens), hidden=h0)
        return self.out(hs)


class Captioner(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = PhotoEncoder()
        self.decoder = CaptionDecoder()

    def __call__(self, x, tokens):
        return self.decoder(self.encoder(x), tokens)

    def greedy(self, x, steps=4):
        f = self.encoder(x)
        toks = mx.full((x.shape[0], 1), BOS, dtype=mx.int32)
        for _ in range(steps):
            nxt = mx.argmax(self.decoder(f, toks)[:, -1], axis=-1).astype(mx.int32)
            toks = mx.concatenate([toks, nxt[:, None]], axis=1)
        return toks


def caption_loss(model, x, caps):
    logits = model(x, caps[:, :-1])
    tgt = caps[:, 1:]
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    mask = (tgt != PAD).astype(ce.dtype)
    return (ce * mask).sum() / mask.sum()


def exact_match(model, x, caps):
    pred = np.array(model.greedy(x))
    return float((pred[:, 1:] == caps[:, 1:]).all(axis=1).mean())


def n_trainable(m):
    return sum(v.size for _, v in tree_flatten(m.trainable_parameters()))


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    xtr, s_tr, u_tr, l_tr, c_tr = render(rng, 2000)
    xva, s_va, u_va, l_va, c_va = render(rng, 250)
    c_tr_noisy, n_bad = mistype(rng, c_tr, 0.08)
    print(f"photos train={len(xtr)} val={len(xva)} vocab={V} mistyped_ledger_rows={n_bad}")
    Xtr, Xva = mx.array(xtr), mx.array(xva)

    # ---------- stage A: attribute pretraining ----------
    enc, heads = PhotoEncoder(), AttributeHeads()
    stage_a = nn.Sequential(enc, heads)  # container only, for value_and_grad

    def attr_loss(m, x, s, u, l):
        a, b, c = heads(enc(x))
        return (
            nn.losses.cross_entropy(a, s, reduction="mean")
            + nn.losses.cross_entropy(b, u, reduction="mean")
            + nn.losses.cross_entropy(c, l, reduction="mean")
        )

    opt_a = optim.Adam(learning_rate=2e-3)
    vg_a = nn.value_and_grad(stage_a, attr_loss)
    S, U, L = mx.array(s_tr), mx.array(u_tr), mx.array(l_tr)
    for step in range(1, 121):
        idx = mx.array(rng.integers(0, len(xtr), 32))
        loss, g = vg_a(stage_a, Xtr[idx], S[idx], U[idx], L[idx])
        opt_a.update(stage_a, g)
        mx.eval(stage_a.parameters(), opt_a.state, loss)
        if step % 40 == 0:
            a, b, c = heads(enc(Xva))
            acc = [
                float((mx.argmax(z, -1) == mx.array(t)).mean())
                for z, t in ((a, s_va), (b, u_va), (c, l_va))
            ]
            print(
                f"[A] step {step:3d} attr_loss {loss.item():.3f} "
                f"val_acc side={acc[0]:.3f} upper={acc[1]:.3f} lower={acc[2]:.3f}"
            )

    # ---------- stage B: new caption head, encoder frozen ----------
    model = Captioner()
    model.encoder.update(enc.parameters())
    model.encoder.freeze()
    print(f"[B] trainable params {n_trainable(model)} (encoder frozen, {n_trainable(enc)} held)")
    enc_before = [v for _, v in tree_flatten(model.encoder.parameters())]

    warm, total_b = 80, 400
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total_b - warm, 3e-4)],
        [warm],
    )
    opt_b = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, caption_loss)
    Ctr, Cva = mx.array(c_tr_noisy), mx.array(c_va)

    # baselines: the most common ledger entry, and a photo-blind decoder guess
    rows, counts = np.unique(c_tr_noisy[:, 1:], axis=0, return_counts=True)
    majority = rows[counts.argmax()]
    base_major = float((c_va[:, 1:] == majority).all(axis=1).mean())
    print(f"[B] baseline exact-match (most common entry) {base_major:.3f}, chance 1/50={1/50:.3f}")

    for step in range(1, total_b + 1):
        idx = mx.array(rng.integers(0, len(xtr), 32))
        lr_now = float(sched(step - 1))
        loss, g = vg(model, Xtr[idx], Ctr[idx])
        opt_b.update(model, g)
        mx.eval(model.parameters(), opt_b.state, loss)
        if step == 1 or step % 80 == 0:
            vl = caption_loss(model, Xva, Cva).item()
            em = exact_match(model, Xva, c_va)
            print(
                f"[B] step {step:3d} lr {lr_now:.2e} train_tok_loss {loss.item():.3f} "
                f"val_tok_loss {vl:.3f} val_exact {em:.3f}"
            )
    drift = max(
        float(mx.abs(a - b).max())
        for a, (_, b) in zip(enc_before, tree_flatten(model.encoder.parameters()))
    )
    print(f"[B] frozen encoder drift {drift:.1e}")

    # ---------- checkpoint, reload into a fresh model ----------
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "captioner.safetensors")
        model.save_weights(path)
        before = caption_loss(model, Xva, Cva).item()
        model = Captioner()
        model.load_weights(path)
        mx.eval(model.parameters())
        after = caption_loss(model, Xva, Cva).item()
    print(f"[ckpt] val_tok_loss before save {before:.4f} after reload {after:.4f}")

    # ---------- stage C: unfreeze everything, small constant lr ----------
    model.unfreeze()
    opt_c = optim.AdamW(learning_rate=5e-4, weight_decay=1e-4)
    vg = nn.value_and_grad(model, caption_loss)
    print(f"[C] trainable params {n_trainable(model)}")
    for step in range(1, 151):
        idx = mx.array(rng.integers(0, len(xtr), 32))
        loss, g = vg(model, Xtr[idx], Ctr[idx])
        opt_c.update(model, g)
        mx.eval(model.parameters(), opt_c.state, loss)
        if step % 50 == 0:
            vl = caption_loss(model, Xva, Cva).item()
            em = exact_match(model, Xva, c_va)
            print(
                f"[C] step {step:3d} train_tok_loss {loss.item():.3f} "
                f"val_tok_loss {vl:.3f} val_exact {em:.3f}"
            )

    pred = np.array(model.greedy(Xva[:3]))
    for i in range(3):
        said = " ".join(VOCAB[t] for t in pred[i, 1:4])
        truth = " ".join(VOCAB[t] for t in c_va[i, 1:4])
        print(f"sample {i}: ledger='{truth}' caption='{said}'")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
