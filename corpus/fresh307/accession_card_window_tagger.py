# Museum accession cards: tag each word of a catalogue line ("oil on canvas by J. Turner c. 1840
# 91 x 122 cm") as MAKER / DATE / MEDIUM / SIZE / O.  Window tagger: word embedding of the word
# and its +-2 neighbours, concatenated, through a GELU MLP.  Two curriculum stages (short cards,
# then full cards with extra filler words), SGD with momentum under cosine warm restarts.
# The log prints the mean log-likelihood per labelled word (negative, climbing toward 0).
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
np.random.seed(5)
mx.random.seed(5)

TAGS = ["O", "MAKER", "DATE", "MEDIUM", "SIZE"]
IGNORE = -100
MAX_LEN = 26
MAKERS = ["Turner", "Constable", "Hepworth", "Moore", "Riley", "Nash", "Sickert", "Gwen", "John",
          "Hockney", "Lowry", "Spencer"]
INITIALS = ["J.", "B.", "H.", "P.", "W.", "S.", "L.", "D."]
MEDIA = [["oil", "on", "canvas"], ["bronze"], ["watercolour"], ["oak"], ["graphite", "on", "paper"],
         ["tempera", "on", "panel"], ["stoneware"], ["linocut"]]
FILLER = ["gift", "of", "the", "artist", "purchased", "1961", "bequeathed", "by", "Mrs", "Moore",
          "inv.", "no.", "provenance", "unknown", "see", "file", "Turner", "bequest"]


def card(full):
    words, tags = [], []

    def add(ws, t):
        words.extend(ws)
        tags.extend([t] * len(ws))

    fields = ["maker", "date", "medium", "size"]
    random.shuffle(fields)
    if not full:
        fields = fields[:2]
    for f in fields:
        if f == "maker":
            add(["by"], "O")
            add([random.choice(INITIALS), random.choice(MAKERS)], "MAKER")
        elif f == "date":
            y = str(random.randint(1780, 1990))
            add(["c.", y] if random.random() < 0.4 else [y], "DATE")
        elif f == "medium":
            add(random.choice(MEDIA), "MEDIUM")
        else:
            add([str(random.randint(10, 240)), "x", str(random.randint(10, 240)), "cm"], "SIZE")
        if full and random.random() < 0.6:
            k = random.randint(2, 4)
            i = random.randint(0, len(FILLER) - k)
            add(FILLER[i:i + k], "O")
    return words[:MAX_LEN], tags[:MAX_LEN]


vocab = {"<pad>": 0, "<unk>": 1}


def tok(w):
    if w.isdigit():
        return "<num%d>" % len(w)
    return w


def encode(cards, grow):
    X = np.zeros((len(cards), MAX_LEN), np.int32)
    Y = np.full((len(cards), MAX_LEN), IGNORE, np.int32)
    for i, (w, t) in enumerate(cards):
        for j, (a, b) in enumerate(zip(w, t)):
            key = tok(a)
            if grow:
                vocab.setdefault(key, len(vocab))
            X[i, j] = vocab.get(key, 1)
            Y[i, j] = TAGS.index(b)
    return mx.array(X), mx.array(Y)


short_tr = encode([card(False) for _ in range(2500)], True)
full_tr = encode([card(True) for _ in range(2500)], True)
short_va = encode([card(False) for _ in range(300)], False)
full_va = encode([card(True) for _ in range(300)], False)
print(f"vocab {len(vocab)} | short cards {short_tr[0].shape} | full cards {full_tr[0].shape}")


class WindowTagger(nn.Module):
    def __init__(self, vocab_size, n_tags, dim=24, width=2, hidden=96):
        super().__init__()
        self.width = width
        self.emb = nn.Embedding(vocab_size, dim)
        self.mlp = nn.Sequential(nn.Linear(dim * (2 * width + 1), hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, n_tags))

    def __call__(self, x):
        e = self.emb(x)
        w = self.width
        padded = mx.pad(e, [(0, 0), (w, w), (0, 0)])
        L = x.shape[1]
        ctx = [padded[:, k:k + L, :] for k in range(2 * w + 1)]
        return self.mlp(mx.concatenate(ctx, axis=-1))


def loss_fn(model, x, y):
    logits = model(x)
    keep = y != IGNORE
    ce = nn.losses.cross_entropy(logits, mx.where(keep, y, 0), reduction="none")
    keep = keep.astype(ce.dtype)
    return (ce * keep).sum() / mx.maximum(keep.sum(), 1.0)


def macro_f1(model, data):
    x, y = data
    pred = np.array(mx.argmax(model(x), axis=-1))
    gold = np.array(y)
    k = gold != IGNORE
    p, g = pred[k], gold[k]
    f1s = []
    for c in range(1, len(TAGS)):
        tp = np.sum((p == c) & (g == c))
        fp = np.sum((p == c) & (g != c))
        fn = np.sum((p != c) & (g == c))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    return float(np.mean(f1s)), float(np.mean(p == g))


# reference points: predicting the majority tag everywhere
for name, (_, y) in [("short", short_va), ("full", full_va)]:
    g = np.array(y)
    g = g[g != IGNORE]
    maj = np.bincount(g).argmax()
    print(f"majority-tag baseline on {name} cards: tag {TAGS[maj]} acc {np.mean(g == maj):.3f} "
          f"macro-F1 0.000")

CYCLE, BATCH = 60, 32
STAGES = [("short", short_tr, short_va, 120), ("full", full_tr, full_va, 180)]


def restart_lr(step):
    # cosine warm restarts: every CYCLE steps the rate jumps back up, each peak 0.7x the last
    c, t = divmod(step, CYCLE)
    peak = 0.25 * (0.7 ** c)
    return 1e-3 + 0.5 * (peak - 1e-3) * (1 + math.cos(math.pi * t / CYCLE))


model = WindowTagger(len(vocab), len(TAGS))
opt = optim.SGD(learning_rate=restart_lr(0), momentum=0.9, nesterov=True)
step_fn = nn.value_and_grad(model, loss_fn)
rng = np.random.default_rng(5)
t0 = time.time()
gstep = 0
for name, (Xs, Ys), va, n_steps in STAGES:
    print(f"--- stage {name}: {n_steps} steps ---")
    for s in range(n_steps):
        opt.learning_rate = restart_lr(gstep)
        idx = mx.array(rng.integers(0, Xs.shape[0], BATCH))
        loss, grads = step_fn(model, Xs[idx], Ys[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        gstep += 1
        if gstep % 20 == 0 or s == 0:
            vl = loss_fn(model, *va).item()
            f1, acc = macro_f1(model, va)
            print(f"step {gstep:3d} [{name}] lr {restart_lr(gstep - 1):.4f} | train nll {loss.item():.4f} "
                  f"| valid loglik/word {-vl:+.4f} | acc {acc:.3f} macro-F1 {f1:.3f}")

for name, va in [("short", short_va), ("full", full_va)]:
    f1, acc = macro_f1(model, va)
    print(f"final {name} cards: loglik/word {-loss_fn(model, *va).item():+.4f} acc {acc:.3f} "
          f"macro-F1 {f1:.3f}")
print(f"done in {time.time() - t0:.1f}s")
