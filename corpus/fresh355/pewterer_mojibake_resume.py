"""Mojibake detector over raw UTF-8 bytes.

Clean strings are UTF-8; corrupted ones were UTF-8 bytes decoded as latin-1 and
encoded again (double encoding). Byte ids 0..255, padding id 256. Some strings
are pure ASCII, where both versions are identical, so there is an accuracy
ceiling below 100 %. Stage 1 trains on long strings with a checkpoint/resume
half-way; stage 2 continues on short strings (harder, fewer accented letters).
"""
import os
import random
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

random.seed(11)
np.random.seed(11)
mx.random.seed(11)

PAD = 256
MAXLEN = 40
ASCII_LETTERS = "bcdfgklmnprstvz"
ACCENTED = "éüñøåçôí"
VOWELS = "aeiou"


def make_phrase(n_words, accent_rate):
    words = []
    for _ in range(n_words):
        w = ""
        for _ in range(random.randint(1, 3)):
            v = random.choice(ACCENTED) if random.random() < accent_rate else random.choice(VOWELS)
            w += random.choice(ASCII_LETTERS) + v
        words.append(w)
    return " ".join(words)


def make_set(n, n_words, accent_rate, frac_bad=0.25):
    xs, ys, ascii_only = [], [], []
    for _ in range(n):
        s = make_phrase(random.randint(*n_words), accent_rate)
        bad = random.random() < frac_bad
        b = s.encode("utf-8")
        if bad:
            b = b.decode("latin-1").encode("utf-8")
        ids = list(b[:MAXLEN])
        ids += [PAD] * (MAXLEN - len(ids))
        xs.append(ids)
        ys.append(int(bad))
        ascii_only.append(all(ord(c) < 128 for c in s))
    return np.array(xs, np.int32), np.array(ys, np.int32), np.array(ascii_only)


def ceiling(y, ascii_only):
    # best possible: ascii-only strings can only get the majority label (clean)
    return float(np.mean(np.where(ascii_only, y == 0, True)))


class ByteConv(nn.Module):
    def __init__(self, d=16, ch=32):
        super().__init__()
        self.emb = nn.Embedding(PAD + 1, d)
        self.conv1 = nn.Conv1d(d, ch, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(ch, ch, kernel_size=3, padding=1)
        self.head = nn.Linear(ch, 2)

    def __call__(self, x):
        mask = (x != PAD)[..., None]
        h = self.emb(x)
        h = nn.relu(self.conv1(h))
        h = nn.relu(self.conv2(h))
        h = mx.where(mask, h, -1e9)
        return self.head(h.max(axis=1))


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


def metrics(m, X, Y):
    logits = m(mx.array(X))
    loss = nn.losses.cross_entropy(logits, mx.array(Y), reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == mx.array(Y)).astype(mx.float32).mean().item()
    return loss, acc


def make_opt():
    sched = optim.step_decay(0.05, 0.5, 120)
    return optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)


Xtr, Ytr, Atr = make_set(6000, (3, 6), 0.30)
Xva, Yva, Ava = make_set(1500, (3, 6), 0.30)
Xs_tr, Ys_tr, As_tr = make_set(6000, (1, 1), 0.15)
Xs_va, Ys_va, As_va = make_set(1500, (1, 1), 0.15)
print(f"stage-1 val: majority acc {1 - Yva.mean():.3f}, ceiling {ceiling(Yva, Ava):.3f}, "
      f"ascii-only {Ava.mean():.1%}")
print(f"stage-2 val: majority acc {1 - Ys_va.mean():.3f}, ceiling {ceiling(Ys_va, As_va):.3f}, "
      f"ascii-only {As_va.mean():.1%}")

model = ByteConv()
mx.eval(model.parameters())
opt = make_opt()
rng = np.random.default_rng(11)
BATCH = 64
_tmp = tempfile.TemporaryDirectory()
ckpt_dir = _tmp.name


def train(model, opt, X, Y, start, stop, tag, Xv, Yv, base, ceil):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = rng.integers(0, len(X), BATCH)
        loss, grads = step_fn(model, mx.array(X[idx]), mx.array(Y[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if (step + 1) % 40 == 0:
            vl, va = metrics(model, Xv, Yv)
            print(f"[{tag}] step {step + 1:4d} lr {opt.learning_rate.item():.4f} "
                  f"train {loss.item():.4f} | val loss {vl:.4f} acc {va:.3f} "
                  f"(majority {base:.3f}, ceiling {ceil:.3f})")


base1, ceil1 = 1 - Yva.mean(), ceiling(Yva, Ava)
train(model, opt, Xtr, Ytr, 0, 160, "stage1", Xva, Yva, base1, ceil1)

# checkpoint: weights + optimizer state, then resume into fresh objects
model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step 160 -> {ckpt_dir}")

model = ByteConv()
model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
vl, va = metrics(model, Xva, Yva)
print(f"resumed: optimizer step {opt.step.item()}, val loss {vl:.4f} acc {va:.3f}")
train(model, opt, Xtr, Ytr, 160, 320, "stage1", Xva, Yva, base1, ceil1)

# stage 2: single-word strings, fewer accents (accuracy ceiling drops)
base2, ceil2 = 1 - Ys_va.mean(), ceiling(Ys_va, As_va)
vl, va = metrics(model, Xs_va, Ys_va)
print(f"stage2 start: val loss {vl:.4f} acc {va:.3f} (majority {base2:.3f}, ceiling {ceil2:.3f})")
opt = optim.Adam(learning_rate=2e-3)
train(model, opt, Xs_tr, Ys_tr, 0, 200, "stage2", Xs_va, Ys_va, base2, ceil2)

vl, va = metrics(model, Xs_va, Ys_va)
vl1, va1 = metrics(model, Xva, Yva)
print(f"final stage2 val acc {va:.3f} (ceiling {ceil2:.3f}); stage1 val acc {va1:.3f} (ceiling {ceil1:.3f})")
for s in ["kéta bünu", "Ã©", "sato mira"]:
    b = list(s.encode("utf-8")[:MAXLEN])
    b += [PAD] * (MAXLEN - len(b))
    p = mx.softmax(model(mx.array([b])), axis=-1)[0, 1].item()
    print(f"p(double-encoded | {s!r}) = {p:.3f}")
_tmp.cleanup()
