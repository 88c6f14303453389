"""Decode single Morse letters from jittered hand-keyed timings.

A straight key operator sends one letter; we get the sequence of (duration,
is_mark) pairs.  A GRU reads them and guesses the letter.  Training follows a
curriculum: first the short letters only (1-2 symbols), then up to 3 symbols,
then the whole alphabet, so the training loss jumps up when a stage opens.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MORSE = {
    "A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.",
    "G": "--.", "H": "....", "I": "..", "J": ".---", "K": "-.-", "L": ".-..",
    "M": "--", "N": "-.", "O": "---", "P": ".--.", "Q": "--.-", "R": ".-.",
    "S": "...", "T": "-", "U": "..-", "V": "...-", "W": ".--", "X": "-..-",
    "Y": "-.--", "Z": "--..",
}
LETTERS = sorted(MORSE)
MAX_T = 7  # 4 marks + 3 gaps


def key_letter(rng, letter, wpm_unit):
    """Return (MAX_T, 3) features: duration/unit, is_mark, valid; and length."""
    code = MORSE[letter]
    seq = []
    for k, sym in enumerate(code):
        base = 1.0 if sym == "." else 3.0
        seq.append((base * rng.lognormal(0.0, 0.28), 1.0))
        if k < len(code) - 1:
            seq.append((1.0 * rng.lognormal(0.0, 0.35), 0.0))
    feats = np.zeros((MAX_T, 3), np.float32)
    for t, (d, mark) in enumerate(seq):
        # the operator's speed varies; the decoder only sees raw milliseconds
        feats[t] = (d * wpm_unit / 60.0, mark, 1.0)
    return feats, len(seq)


def make_set(rng, n, allowed):
    X = np.zeros((n, MAX_T, 3), np.float32)
    L = np.zeros(n, np.int32)
    y = np.zeros(n, np.int32)
    for i in range(n):
        letter = allowed[rng.integers(len(allowed))]
        unit = rng.uniform(45.0, 90.0)
        X[i], L[i] = key_letter(rng, letter, unit)
        y[i] = LETTERS.index(letter)
    return X, L, y


class Decoder(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.inp = nn.Linear(3, 24)
        self.gru = nn.GRU(24, hidden)
        self.out = nn.Linear(hidden, len(LETTERS))

    def __call__(self, x, lengths):
        h = self.gru(nn.relu(self.inp(x)))            # (B, T, H)
        idx = (lengths - 1)[:, None, None]
        last = mx.take_along_axis(h, mx.broadcast_to(idx, (h.shape[0], 1, h.shape[2])), axis=1)
        return self.out(last.squeeze(1))


def loss_fn(model, x, lengths, y):
    return nn.losses.cross_entropy(model(x, lengths), y, reduction="mean")


def evaluate(model, X, L, y):
    logits = model(mx.array(X), mx.array(L))
    ce = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean")
    acc = mx.mean(mx.argmax(logits, axis=1) == mx.array(y))
    return ce.item(), acc.item()


def main():
    rng = np.random.default_rng(1901)
    mx.random.seed(1901)
    stages = [
        ("short", [c for c in LETTERS if len(MORSE[c]) <= 2], 3),
        ("medium", [c for c in LETTERS if len(MORSE[c]) <= 3], 4),
        ("full", LETTERS, 7),
    ]
    Xte, Lte, yte = make_set(rng, 2000, LETTERS)

    model = Decoder()
    opt = optim.Adamax(learning_rate=4e-3)
    step = nn.value_and_grad(model, loss_fn)
    batch = 64
    t0 = time.perf_counter()
    checked = False
    print("stage | epoch | letters | train_ce | test_ce(all 26) | test_acc(all 26) | secs")
    ce0, acc0 = evaluate(model, Xte, Lte, yte)
    print(f"init | 0 | - | - | {ce0:.3f} | {acc0:.3f} | 0.0")
    for name, allowed, epochs in stages:
        Xtr, Ltr, ytr = make_set(rng, 6000, allowed)
        for ep in range(1, epochs + 1):
            perm = rng.permutation(len(ytr))
            tot, nb = 0.0, 0
            for s in range(0, len(perm) - batch + 1, batch):
                b = perm[s:s + batch]
                loss, grads = step(model, mx.array(Xtr[b]), mx.array(Ltr[b]), mx.array(ytr[b]))
                if not checked:
                    flat = tree_flatten(grads)
                    zero = [k for k, g in flat if mx.max(mx.abs(g)).item() == 0.0]
                    print(f"grad check | {len(flat)} leaves | zero: {zero}")
                    checked = True
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item()
                nb += 1
            ce, acc = evaluate(model, Xte, Lte, yte)
            print(f"{name} | {ep} | {len(allowed)} | {tot / nb:.3f} | {ce:.3f} | {acc:.3f} | "
                  f"{time.perf_counter() - t0:.1f}")
    ce, acc = evaluate(model, Xte, Lte, yte)
    print(f"final | test accuracy {acc:.3f} over 26 letters (chance {1 / 26:.3f})")


if __name__ == "__main__":
    main()
