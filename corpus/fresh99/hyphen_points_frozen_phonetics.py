"""Hyphenation-point tagger for a made-up syllabic language.

Each letter is looked up in a FIXED phonetic feature table (vowel / liquid /
nasal / stop / fricative + 3 fixed random dims). The table is an nn.Embedding
that is frozen on purpose: only the two 1-D convolutions and the head train.
For every gap between two letters the model says whether a hyphen may go there.
Held-out precision / recall / F1 of the hyphen points are logged in percent.
"""
import logging
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("hyphen")

ONSETS = ["b", "d", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v",
          "br", "tr", "st", "pl", "kr", "sn"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"]
CODAS = ["", "", "", "n", "r", "s", "l"]
ALPHA = "abcdefghijklmnopqrstuvwxyz"
PAD = 0
MAXLEN = 20


def make_word(rng):
    n_syl = rng.randint(2, 4)
    syls = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(n_syl)]
    word = "".join(syls)
    breaks = set()
    pos = 0
    for s in syls[:-1]:
        pos += len(s)
        breaks.add(pos - 1)          # hyphen allowed after letter index pos-1
    return word, breaks


def encode(words):
    n = len(words)
    x = np.zeros((n, MAXLEN), dtype=np.int32)
    y = np.zeros((n, MAXLEN), dtype=np.float32)
    m = np.zeros((n, MAXLEN), dtype=np.bool_)
    for i, (w, br) in enumerate(words):
        w = w[:MAXLEN]
        for j, ch in enumerate(w):
            x[i, j] = ALPHA.index(ch) + 1
        m[i, : len(w) - 1] = True            # a gap exists after letters 0..len-2
        for b in br:
            if b < len(w) - 1:
                y[i, b] = 1.0
    return x, y, m


def phonetic_table(seed=3):
    feats = np.zeros((27, 8), dtype=np.float32)
    groups = {"aeiou": 0, "lr": 1, "mn": 2, "bdgkpt": 3, "sv": 4}
    for letters, col in groups.items():
        for ch in letters:
            feats[ALPHA.index(ch) + 1, col] = 1.0
    fixed = np.random.default_rng(seed).normal(0, 0.3, size=(27, 3)).astype(np.float32)
    feats[1:, 5:] = fixed[1:]
    return mx.array(feats)


class Tagger(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.phon = nn.Embedding(27, 8)
        self.phon.weight = phonetic_table()
        self.conv1 = nn.Conv1d(8, width, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, padding=1)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.phon(x)                      # (N, L, 8) - NLC, as Conv1d expects
        h = nn.relu(self.conv1(h))
        h = nn.relu(self.conv2(h))
        return self.head(h).squeeze(-1)       # (N, L) logits, one per gap


def masked_bce(model, x, y, m):
    logits = model(x)
    per = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="none")
    per = mx.where(m, per, 0.0)
    return per.sum() / m.sum()


def hyphen_scores(model, x, y, m, bs=1000):
    tp = fp = fn = 0
    for s in range(0, x.shape[0], bs):
        logits = model(mx.array(x[s:s + bs]))
        pred = np.array(logits > 0) & m[s:s + bs]
        gold = (y[s:s + bs] > 0.5) & m[s:s + bs]
        tp += int((pred & gold).sum())
        fp += int((pred & ~gold).sum())
        fn += int((~pred & gold).sum())
    prec = 100.0 * tp / max(tp + fp, 1)
    rec = 100.0 * tp / max(tp + fn, 1)
    f1 = 2 * prec * rec / max(prec + rec, 1e-9)
    return prec, rec, f1


def main():
    rng = random.Random(11)
    train_words = [make_word(rng) for _ in range(6000)]
    test_words = [make_word(rng) for _ in range(1500)]
    xtr, ytr, mtr = encode(train_words)
    xte, yte, mte = encode(test_words)
    log.info("train words=%d test words=%d hyphen share of gaps=%.1f%%",
             len(train_words), len(test_words), 100.0 * ytr[mtr].mean())

    mx.random.seed(0)
    model = Tagger()
    model.phon.freeze()                      # the phonetic table is fixed on purpose
    table_before = np.array(model.phon.weight)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("parameters: %d trainable of %d (phonetic table frozen)", n_train, n_all)

    epochs, bs = 8, 100
    steps_per_epoch = xtr.shape[0] // bs
    sched = optim.cosine_decay(3e-3, epochs * steps_per_epoch, end=1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, masked_bce)

    p, r, f = hyphen_scores(model, xte, yte, mte)
    log.info("before training: precision=%.1f%% recall=%.1f%% F1=%.1f%%", p, r, f)

    order_rng = np.random.default_rng(5)
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = order_rng.permutation(xtr.shape[0])
        total, count = 0.0, 0
        for k in range(steps_per_epoch):
            idx = perm[k * bs:(k + 1) * bs]
            loss, grads = loss_and_grad(model, mx.array(xtr[idx]), mx.array(ytr[idx]),
                                        mx.array(mtr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item()
            count += 1
        p, r, f = hyphen_scores(model, xte, yte, mte)
        log.info("epoch %d/%d train_bce=%.4f test precision=%.1f%% recall=%.1f%% F1=%.1f%% (%.1fs)",
                 ep, epochs, total / count, p, r, f, time.time() - t0)

    same = np.array_equal(table_before, np.array(model.phon.weight))
    log.info("phonetic table unchanged: %s", same)
    demo_rng = random.Random(99)
    for _ in range(3):
        w, _ = make_word(demo_rng)
        x, _, m = encode([(w, set())])
        pred = np.array(model(mx.array(x)) > 0)[0] & m[0]
        log.info("sample: %s", "".join(ch + ("-" if pred[j] else "") for j, ch in enumerate(w)))


if __name__ == "__main__":
    main()
