"""Count syllables in made-up English-like words (1..5 syllables).

Char CNN over the spelling, masked sum+max pooling, 5-way head.
Two micro-batches are accumulated (averaged) per optimizer step.
The log is written to look like `make` output.
"""
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(11)
np.random.seed(11)
mx.random.seed(11)

ONSETS = ["", "", "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s",
          "t", "v", "w", "z", "br", "cl", "dr", "fl", "gr", "pl", "st", "tr", "sh", "ch", "th"]
NUCLEI = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "oo", "ie"]
CODAS = ["", "", "", "n", "r", "s", "t", "m", "l", "nd", "st", "ck", "ng", "rt"]
ALPHA = "_abcdefghijklmnopqrstuvwxyz"
MAXLEN = 28


def make_word():
    k = random.randint(1, 5)
    w = "".join(random.choice(ONSETS) + random.choice(NUCLEI) + random.choice(CODAS)
                for _ in range(k))
    return w[:MAXLEN], k - 1


def encode(words):
    ids = np.zeros((len(words), MAXLEN), dtype=np.int32)
    for i, w in enumerate(words):
        ids[i, :len(w)] = [ALPHA.index(c) for c in w]
    return ids


def build(n):
    pairs = [make_word() for _ in range(n)]
    return encode([p[0] for p in pairs]), np.array([p[1] for p in pairs], dtype=np.int32)


class SyllableNet(nn.Module):
    def __init__(self, vocab=len(ALPHA), dim=16, ch=48):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.conv1 = nn.Conv1d(dim, ch, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(ch, ch, kernel_size=3, padding=1)
        self.head = nn.Sequential(nn.Linear(2 * ch, 64), nn.ReLU(), nn.Linear(64, 5))

    def __call__(self, ids):
        mask = (ids > 0).astype(mx.float32)[..., None]
        h = self.emb(ids)
        h = nn.relu(self.conv1(h)) * mask
        h = nn.relu(self.conv2(h)) * mask
        pooled_sum = h.sum(axis=1) / 4.0
        pooled_max = (h - 1e4 * (1 - mask)).max(axis=1)
        return self.head(mx.concatenate([pooled_sum, pooled_max], axis=-1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    t0 = time.time()
    xtr, ytr = build(6000)
    xva, yva = build(1000)
    print("make: Entering directory '/build/syllables'")
    print(f"echo data: train={len(ytr)} valid={len(yva)} classes=1..5 maxlen={MAXLEN}")

    model = SyllableNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)

    # first-step gradient audit
    l0, g0 = vg(model, mx.array(xtr[:64]), mx.array(ytr[:64]))
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"cc -fsyntax-only gradcheck.c   # leaves={len(leaves)} zero={zero} loss0={l0.item():.4f}")

    xva_m, yva_m = mx.array(xva), mx.array(yva)
    majority = np.bincount(yva).max() / len(yva)
    micro, accum = 50, 2
    per_epoch = len(ytr) // (micro * accum)
    for epoch in range(1, 13):
        perm = np.random.permutation(len(ytr))
        tot, nb = 0.0, 0
        for s in range(per_epoch):
            acc_g = None
            for m in range(accum):
                idx = perm[(s * accum + m) * micro:(s * accum + m + 1) * micro]
                loss, g = vg(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
                acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
                tot += loss.item()
                nb += 1
            acc_g = tree_map(lambda a: a / accum, acc_g)
            opt.update(model, acc_g)
            mx.eval(model.parameters(), opt.state)
        logits = model(xva_m)
        vce = nn.losses.cross_entropy(logits, yva_m, reduction="mean").item()
        vacc = (logits.argmax(axis=-1) == yva_m).astype(mx.float32).mean().item()
        print(f"cc -c epoch{epoch:02d}.c -o epoch{epoch:02d}.o   "
              f"# train_ce={tot / nb:.4f} valid_ce={vce:.4f} valid_acc={vacc:.3f} "
              f"steps={per_epoch} t={time.time() - t0:.1f}s")
    logits = model(xva_m)
    pred = np.array(logits.argmax(axis=-1))
    per = [(pred[yva == k] == k).mean() for k in range(5)]
    print("ld -o syllables epoch*.o   # per-count acc " +
          " ".join(f"{k + 1}:{a:.2f}" for k, a in enumerate(per)) +
          f" majority={majority:.3f}")
    print("make: Leaving directory '/build/syllables'")


if __name__ == "__main__":
    main()
