"""Lamp-room logbook captioner.

Each synthetic 8x8 RGB lamp-room frame shows a beam colour, a flash count
(bright dots on the top row) and the weather (clear / fog haze / rain streaks).
The logbook caption is "<colour> <count> <weather> <eos>".

Stage 1: cross-entropy (teacher forcing) for a short budget, checkpoint to disk.
Stage 2: resume from the checkpoint into a fresh model and fine-tune with
self-critical sequence training (REINFORCE, greedy-decode reward as baseline).
The SCST loss is centred on zero and is often negative; the number to watch is
the greedy reward / exact-match on the held-out frames.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

COLOURS = ["red", "green", "white", "amber"]
COUNTS = ["one", "two", "three", "four"]
WEATHER = ["clear", "fog", "rain"]
VOCAB = ["<pad>", "<bos>", "<eos>"] + COLOURS + COUNTS + WEATHER
W2I = {w: i for i, w in enumerate(VOCAB)}
BOS, EOS = W2I["<bos>"], W2I["<eos>"]
CAP_LEN = 4  # three words + eos
RGB = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0),
       "white": (1.0, 1.0, 1.0), "amber": (1.0, 0.6, 0.0)}


def render(rng, n):
    imgs = np.zeros((n, 8, 8, 3), dtype=np.float32)
    caps = np.zeros((n, CAP_LEN), dtype=np.int32)
    for k in range(n):
        c, q, w = rng.integers(4), rng.integers(4), rng.integers(3)
        img = np.zeros((8, 8, 3), dtype=np.float32)
        img[3:6, 2:6] = RGB[COLOURS[c]]                 # the lamp
        for d in range(q + 1):                          # flash dots
            img[0, 1 + 2 * d] = 1.0
        if w == 1:                                      # fog haze
            img += 0.45
        elif w == 2:                                    # rain streaks
            for s in range(0, 8, 3):
                for t in range(8):
                    img[t, (t + s) % 8, 2] += 0.8
        img += rng.normal(0.0, 0.9, img.shape)
        imgs[k] = img
        caps[k] = [W2I[COLOURS[c]], W2I[COUNTS[q]], W2I[WEATHER[w]], EOS]
    return imgs.reshape(n, -1), caps


class Captioner(nn.Module):
    def __init__(self, d_img=192, d=96, vocab=len(VOCAB)):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d_img, 128), nn.GELU(), nn.Linear(128, d))
        self.emb = nn.Embedding(vocab, d)
        self.gru = nn.GRU(d, d)
        self.out = nn.Linear(d, vocab)

    def init_state(self, imgs):
        return mx.tanh(self.enc(imgs))

    def step(self, tok, h):
        x = self.emb(tok)[:, None, :]
        h = self.gru(x, hidden=h)[:, -1, :]
        return self.out(h), h

    def teacher_forced(self, imgs, caps):
        h = self.init_state(imgs)
        inp = mx.concatenate([mx.full((caps.shape[0], 1), BOS, dtype=mx.int32), caps[:, :-1]], axis=1)
        hs = self.gru(self.emb(inp), hidden=h)
        return self.out(hs)

    def decode(self, imgs, greedy=True, key=None):
        h = self.init_state(imgs)
        tok = mx.full((imgs.shape[0],), BOS, dtype=mx.int32)
        toks, logps = [], []
        keys = mx.random.split(key, CAP_LEN) if key is not None else [None] * CAP_LEN
        for t in range(CAP_LEN):
            logits, h = self.step(tok, h)
            lp = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
            if greedy:
                tok = mx.argmax(logits, axis=-1)
            else:
                tok = mx.random.categorical(logits, key=keys[t])
            tok = mx.stop_gradient(tok)
            toks.append(tok)
            logps.append(mx.take_along_axis(lp, tok[:, None], axis=-1)[:, 0])
        return mx.stack(toks, axis=1), mx.stack(logps, axis=1)


def slot_reward(pred, ref):
    """Fraction of the four caption slots that match the logbook entry."""
    return (pred == ref).astype(mx.float32).mean(axis=1)


def xe_loss(model, imgs, caps):
    logits = model.teacher_forced(imgs, caps)
    return nn.losses.cross_entropy(logits, caps, reduction="mean")


def scst_loss(model, imgs, caps, key):
    sampled, logps = model.decode(imgs, greedy=False, key=key)
    greedy, _ = model.decode(imgs, greedy=True)
    adv = mx.stop_gradient(slot_reward(sampled, caps) - slot_reward(greedy, caps))
    sampled = mx.stop_gradient(sampled)
    return -(adv * logps.sum(axis=1)).mean(), slot_reward(sampled, caps).mean()


def evaluate(model, imgs, caps):
    pred, _ = model.decode(imgs, greedy=True)
    exact = (pred == caps).all(axis=1).astype(mx.float32).mean()
    return slot_reward(pred, caps).mean().item(), exact.item()


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    tr_x, tr_y = render(rng, 4096)
    va_x, va_y = render(rng, 1024)
    tr_x, tr_y, va_x, va_y = map(mx.array, (tr_x, tr_y, va_x, va_y))

    # baseline: always write the most common logbook line of the training set
    _, counts = np.unique(np.array(tr_y), axis=0, return_counts=True)
    majority_exact = counts.max() / tr_y.shape[0]
    print(f"frames train={tr_x.shape[0]} held-out={va_x.shape[0]} vocab={len(VOCAB)}")
    print(f"baseline majority-line exact match={majority_exact:.3f}  chance slot reward~0.30")

    model = Captioner()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step_fn = nn.value_and_grad(model, xe_loss)
    bs = 64
    xe_steps = 60
    print("== stage 1: cross-entropy")
    for it in range(1, xe_steps + 1):
        idx = mx.array(rng.integers(0, tr_x.shape[0], bs))
        loss, grads = step_fn(model, tr_x[idx], tr_y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0:
            r, ex = evaluate(model, va_x, va_y)
            print(f"xe step {it:4d} loss={loss.item():.4f} heldout slot_reward={r:.3f} exact={ex:.3f}")

    ckpt_dir = tempfile.mkdtemp(prefix="lamproom_")
    wpath = os.path.join(ckpt_dir, "captioner.safetensors")
    model.save_weights(wpath)
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"stage": 1, "steps": xe_steps}, f)
    print(f"checkpoint written after {xe_steps} xe steps")

    # resume into a fresh model, as a separate fine-tuning job would
    model = Captioner()
    model.load_weights(wpath)
    mx.eval(model.parameters())
    with open(os.path.join(ckpt_dir, "meta.json")) as f:
        meta = json.load(f)
    r, ex = evaluate(model, va_x, va_y)
    print(f"resumed from stage {meta['stage']} step {meta['steps']}: heldout slot_reward={r:.3f} exact={ex:.3f}")

    print("== stage 2: self-critical fine-tuning (greedy baseline)")
    opt = optim.Adam(learning_rate=1e-3)
    sc_fn = nn.value_and_grad(model, scst_loss)
    key = mx.random.key(11)
    for it in range(1, 301):
        key, sub = mx.random.split(key)
        idx = mx.array(rng.integers(0, tr_x.shape[0], bs))
        (loss, samp_r), grads = sc_fn(model, tr_x[idx], tr_y[idx], sub)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, samp_r)
        if it % 50 == 0:
            r, ex = evaluate(model, va_x, va_y)
            print(f"scst step {it:4d} loss={loss.item():+.4f} sample_reward={samp_r.item():.3f} "
                  f"heldout greedy slot_reward={r:.3f} exact={ex:.3f}")

    r, ex = evaluate(model, va_x, va_y)
    pred, _ = model.decode(va_x[:3], greedy=True)
    for p, g in zip(np.array(pred), np.array(va_y[:3])):
        print("  wrote:", " ".join(VOCAB[i] for i in p), "| logbook:", " ".join(VOCAB[i] for i in g))
    print(f"final heldout slot_reward={r:.3f} exact={ex:.3f} (majority baseline {majority_exact:.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
