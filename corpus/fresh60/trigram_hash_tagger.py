"""Multi-label tagging of stdlib docstring words from hashed character trigrams.

Each word gets 5 orthographic tags; the model is a mean-pooled hashed trigram
embedding ("embedding bag") + a 2-layer head, trained with a compiled Lion step.
Silent while training; one summary table at the end.
"""
import importlib
import re
import time
import zlib

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial
from mlx.utils import tree_flatten

MODS = ["os", "re", "json", "random", "collections", "itertools", "functools", "string", "textwrap",
        "argparse", "logging", "pathlib", "subprocess", "threading", "socket", "email", "http.client",
        "unittest", "inspect", "datetime", "decimal", "fractions", "statistics", "shutil", "csv"]
text = []
for name in MODS:
    m = importlib.import_module(name)
    for obj in [m] + [getattr(m, a, None) for a in dir(m)]:
        d = getattr(obj, "__doc__", None)
        if isinstance(d, str):
            text.append(d)
words = sorted({w for w in re.findall(r"[a-z]{3,14}", " ".join(text).lower())})
TAGS = ["double_letter", "ends_vowel", "has_th", "len_ge_8", "starts_2cons"]
V = set("aeiou")


def tags(w):
    return [int(any(a == b for a, b in zip(w, w[1:]))), int(w[-1] in V), int("th" in w),
            int(len(w) >= 8), int(w[0] not in V and w[1] not in V)]


B, MAXT = 2048, 16


def trigrams(w):
    s = f"<{w}>"
    ids = [zlib.crc32(s[i:i + 3].encode()) % B for i in range(len(s) - 2)][:MAXT]
    return ids + [0] * (MAXT - len(ids)), len(ids)


rng = np.random.default_rng(3)
rng.shuffle(words)
ids, lens = zip(*(trigrams(w) for w in words))
ids = np.array(ids, dtype=np.int32)
mask = (np.arange(MAXT)[None, :] < np.array(lens)[:, None]).astype(np.float32)
Y = np.array([tags(w) for w in words], dtype=np.float32)
n_val = len(words) // 5
tr, va = slice(n_val, None), slice(0, n_val)
Itr, Mtr, Ytr = mx.array(ids[tr]), mx.array(mask[tr]), mx.array(Y[tr])
Iva, Mva, Yva = mx.array(ids[va]), mx.array(mask[va]), mx.array(Y[va])


class BagTagger(nn.Module):
    def __init__(self, buckets, dim, n_tags):
        super().__init__()
        self.emb = nn.Embedding(buckets, dim)
        self.hidden = nn.Linear(dim, 64)
        self.out = nn.Linear(64, n_tags)

    def __call__(self, idx, m):
        e = self.emb(idx) * m[..., None]
        pooled = e.sum(axis=1) / mx.maximum(m.sum(axis=1, keepdims=True), 1.0)
        return self.out(nn.gelu(self.hidden(pooled)))


def loss_fn(model, idx, m, y):
    return nn.losses.binary_cross_entropy(model(idx, m), y, with_logits=True, reduction="mean")


model = BagTagger(B, 48, len(TAGS))
opt = optim.Lion(learning_rate=optim.cosine_decay(3e-4, 3000, 3e-5), weight_decay=0.01)
mx.eval(model.parameters())
vg = nn.value_and_grad(model, loss_fn)
_, g0 = vg(model, Itr[:512], Mtr[:512], Ytr[:512])
flat = tree_flatten(g0)
zero_leaves = sum(1 for _, g in flat if float(mx.abs(g).max()) == 0.0)
init_val = loss_fn(model, Iva, Mva, Yva).item()

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(idx, m, y):
    loss, grads = vg(model, idx, m, y)
    opt.update(model, grads)
    return loss


t0 = time.time()
n_tr = Itr.shape[0]
STEPS, BS = 3000, 128
losses = []
for s in range(STEPS):
    bi = mx.array(rng.integers(0, n_tr, BS))
    loss = step(Itr[bi], Mtr[bi], Ytr[bi])
    mx.eval(state, loss)
    losses.append(loss.item())
elapsed = time.time() - t0

logits = model(Iva, Mva)
pred = (logits > 0).astype(mx.float32)
P, Yv = np.array(pred), np.array(Yva)
val_loss = loss_fn(model, Iva, Mva, Yva).item()
print(f"words: {len(words)} ({n_tr} train / {n_val} held out), buckets={B}, steps={STEPS}, batch={BS}, {elapsed:.1f}s")
print(f"parameter leaves: {len(flat)}, zero-gradient leaves at step 0: {zero_leaves}")
print(f"held-out BCE: {init_val:.4f} at init -> {val_loss:.4f} final; train BCE mean of first 100 steps "
      f"{np.mean(losses[:100]):.4f}, last 100 steps {np.mean(losses[-100:]):.4f}")
print()
print(f"{'tag':<14}{'pos rate':>9}{'prec':>8}{'recall':>8}{'F1':>8}{'acc':>8}{'maj acc':>9}")
tp_all = fp_all = fn_all = 0
for j, t in enumerate(TAGS):
    tp = float(((P[:, j] == 1) & (Yv[:, j] == 1)).sum()); fp = float(((P[:, j] == 1) & (Yv[:, j] == 0)).sum())
    fn = float(((P[:, j] == 0) & (Yv[:, j] == 1)).sum())
    tp_all += tp; fp_all += fp; fn_all += fn
    prec = tp / max(tp + fp, 1); rec = tp / max(tp + fn, 1); f1 = 2 * prec * rec / max(prec + rec, 1e-9)
    acc = float((P[:, j] == Yv[:, j]).mean()); rate = float(Yv[:, j].mean())
    print(f"{t:<14}{rate:>9.3f}{prec:>8.3f}{rec:>8.3f}{f1:>8.3f}{acc:>8.3f}{max(rate, 1 - rate):>9.3f}")
micro = 2 * tp_all / max(2 * tp_all + fp_all + fn_all, 1)
print(f"{'micro-F1':<14}{'':>9}{'':>8}{'':>8}{micro:>8.3f}")
