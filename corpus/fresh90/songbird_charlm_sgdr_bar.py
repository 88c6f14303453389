"""Character-level GRU language model of transcribed songbird phrases.

Field transcriptions look like "tsee-tsee-tsee chur-chur wit-wit-wit-wit." : a
song is a run of phrases, each a syllable repeated a few times, and which
syllable follows which depends on the bird's dialect.  The model is trained on
windows of the transcription stream and scored in bits per character.

The schedule is SGDR (cosine with warm restarts, each cycle twice as long), so
the training loss climbs back up at every restart before it falls lower.  The
step is compiled with the model and optimizer state as explicit inputs/outputs.
Progress is a bar redrawn in place with carriage returns; each cycle ends with
a summary line.
"""
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SYLLABLES = ["tsee", "chur", "wit", "pee", "oo", "trill"]
# dialect: which syllable tends to follow which (rows sum to 1)
TRANS = np.array([
    [0.05, 0.55, 0.10, 0.20, 0.05, 0.05],
    [0.10, 0.05, 0.60, 0.05, 0.15, 0.05],
    [0.50, 0.10, 0.05, 0.05, 0.05, 0.25],
    [0.05, 0.05, 0.10, 0.05, 0.70, 0.05],
    [0.60, 0.10, 0.10, 0.10, 0.05, 0.05],
    [0.10, 0.60, 0.10, 0.10, 0.05, 0.05],
])
REPEATS = {"tsee": (2, 4), "chur": (1, 3), "wit": (3, 5), "pee": (1, 2), "oo": (2, 3), "trill": (1, 1)}


def sing(rng, n_songs):
    out = []
    for _ in range(n_songs):
        s = rng.integers(len(SYLLABLES))
        phrases = []
        for _ in range(rng.integers(2, 6)):
            syl = SYLLABLES[s]
            lo, hi = REPEATS[syl]
            phrases.append("-".join([syl] * int(rng.integers(lo, hi + 1))))
            s = rng.choice(len(SYLLABLES), p=TRANS[s])
        out.append(" ".join(phrases) + ".")
    return "\n".join(out) + "\n"


class SongLM(nn.Module):
    def __init__(self, vocab, dim=24, hidden=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.head(self.rnn(self.embed(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def windows(ids, starts, length):
    idx = starts[:, None] + np.arange(length + 1)[None, :]
    chunk = ids[idx]
    return mx.array(chunk[:, :-1]), mx.array(chunk[:, 1:])


def bar(done, total, width=24):
    filled = int(width * done / total)
    return "#" * filled + "." * (width - filled)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    train_text = sing(rng, 6000)
    val_text = sing(rng, 600)
    chars = sorted(set(train_text) | set(val_text))
    lookup = {c: i for i, c in enumerate(chars)}
    tr = np.array([lookup[c] for c in train_text], dtype=np.int32)
    va = np.array([lookup[c] for c in val_text], dtype=np.int32)
    V, T, B = len(chars), 32, 32

    freq = np.bincount(tr, minlength=V) / len(tr)
    unigram_bpc = float(-(freq * np.log2(np.where(freq > 0, freq, 1))).sum())
    print(f"corpus: {len(tr)} train chars, {len(va)} val chars, vocab {V}; "
          f"unigram baseline {unigram_bpc:.3f} bits/char")

    val_starts = np.arange(0, len(va) - T - 1, T)[:96]
    Xv, Yv = windows(va, val_starts, T)

    def val_bpc(model):
        return loss_fn(model, Xv, Yv).item() / math.log(2)

    model = SongLM(V)
    mx.eval(model.parameters())

    # gradient audit on one batch, eager, before anything is compiled
    x0, y0 = windows(tr, rng.integers(0, len(tr) - T - 1, B), T)
    l0, g0 = nn.value_and_grad(model, loss_fn)(model, x0, y0)
    flat = tree_flatten(g0)
    dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    print(f"untrained: val {val_bpc(model):.3f} bits/char; first-batch grads: "
          f"{len(flat)} leaves, all-zero leaves: {dead or 'none'}")

    cycles = [60, 120, 240]                        # T_0 = 60, T_mult = 2
    peak, floor = 3e-3, 3e-5
    sched = optim.join_schedules(
        [optim.cosine_decay(peak, c, end=floor) for c in cycles],
        list(np.cumsum(cycles)[:-1]))
    opt = optim.Adam(learning_rate=sched)
    opt.init(model.trainable_parameters())

    state = [model.state, opt.state]
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    step = 0
    t_start = time.perf_counter()
    for c, length in enumerate(cycles, 1):
        recent = []
        first_window = None
        for k in range(1, length + 1):
            lr_used = float(sched(step))
            x, y = windows(tr, rng.integers(0, len(tr) - T - 1, B), T)
            loss = train_step(x, y)
            mx.eval(state, loss)
            step += 1
            recent.append(loss.item() / math.log(2))
            recent = recent[-20:]
            if k == 20:
                first_window = float(np.mean(recent))
            if k % 10 == 0 or k == length:
                sys.stdout.write(
                    f"\rcycle {c}/{len(cycles)} |{bar(k, length)}| {k:>3}/{length} "
                    f"lr {lr_used:.2e} train {np.mean(recent):.3f} bpc")
                sys.stdout.flush()
        vb = val_bpc(model)
        sys.stdout.write(
            f"\rcycle {c}/{len(cycles)} done at step {step}: first-20 train {first_window:.3f}, "
            f"last-20 train {np.mean(recent):.3f}, val {vb:.3f} bits/char, "
            f"{time.perf_counter() - t_start:.1f}s elapsed\n")
        sys.stdout.flush()

    print(f"final: val {val_bpc(model):.3f} bits/char vs unigram {unigram_bpc:.3f}")


if __name__ == "__main__":
    main()
