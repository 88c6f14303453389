"""Melody harmonisation: name the chord under each beat of a short C-major tune.

Phrases are 8 beats of two eighth notes (pitch classes). The chord sequence comes from
a made-up Markov chain over I, ii, IV, V, vi; each eighth note is a chord tone with
probability 0.8, otherwise a passing scale tone, so some beats stay ambiguous.
A bidirectional GRU tags each beat. The run is done in two sittings: the first one
saves weights and optimizer state to disk, the second one rebuilds everything from a
different seed, loads both and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)

CHORDS = ["I", "ii", "IV", "V", "vi"]
TONES = {0: [0, 4, 7], 1: [2, 5, 9], 2: [5, 9, 0], 3: [7, 11, 2], 4: [9, 0, 4]}
SCALE = [0, 2, 4, 5, 7, 9, 11]
TRANS = np.array([
    [0.10, 0.20, 0.35, 0.25, 0.10],   # from I
    [0.05, 0.05, 0.15, 0.70, 0.05],   # from ii
    [0.30, 0.15, 0.05, 0.45, 0.05],   # from IV
    [0.60, 0.02, 0.08, 0.05, 0.25],   # from V
    [0.10, 0.35, 0.35, 0.15, 0.05],   # from vi
])
BEATS = 8


def make_phrases(n):
    chords = np.zeros((n, BEATS), dtype=np.int64)
    notes = np.zeros((n, 2 * BEATS), dtype=np.int64)
    for i in range(n):
        c = 0
        for b in range(BEATS):
            c = 0 if b == 0 else rng.choice(5, p=TRANS[c])
            if b == BEATS - 1:
                c = 0                                  # phrases end on the tonic
            chords[i, b] = c
            for e in range(2):
                pool = TONES[c] if rng.random() < 0.8 else SCALE
                notes[i, 2 * b + e] = rng.choice(pool)
    return notes, chords


train_x, train_y = make_phrases(4000)
val_x, val_y = make_phrases(600)


def vote_baseline(x):
    """Pick the chord containing most of the beat's notes; ties go to the earlier chord."""
    out = np.zeros((len(x), BEATS), dtype=np.int64)
    for b in range(BEATS):
        pair = x[:, 2 * b:2 * b + 2]
        score = np.stack([np.isin(pair, TONES[c]).sum(1) for c in range(5)], axis=1)
        out[:, b] = score.argmax(1)
    return out


class Harmoniser(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.emb = nn.Embedding(12, 24)
        self.fwd = nn.GRU(24, hidden)
        self.bwd = nn.GRU(24, hidden)
        self.head = nn.Linear(4 * hidden, 5)

    def __call__(self, x):
        e = self.emb(x)
        hf = self.fwd(e)
        hb = self.bwd(e[:, ::-1])[:, ::-1]
        h = mx.concatenate([hf, hb], axis=-1)                  # B, 16, 2H
        h = h.reshape(h.shape[0], BEATS, -1)                    # B, 8, 4H (two eighths per beat)
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(mx.array(x))
    loss = nn.losses.cross_entropy(logits, mx.array(y), reduction="mean").item()
    acc = 100.0 * (np.array(mx.argmax(logits, axis=-1)) == y).mean()
    return loss, acc


def build(seed):
    mx.random.seed(seed)
    model = Harmoniser()
    opt = optim.Adam(learning_rate=optim.cosine_decay(4e-3, 900, 2e-4))
    mx.eval(model.parameters())
    return model, opt


def run(model, opt, first, last, report, order):
    step_fn = nn.value_and_grad(model, loss_fn)
    pos = 0
    for step in range(first, last + 1):
        if pos + 64 > len(order):
            order, pos = rng.permutation(len(train_x)), 0
        idx = order[pos:pos + 64]
        pos += 64
        loss, grads = step_fn(model, mx.array(train_x[idx]), mx.array(train_y[idx]))
        grads, gnorm = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step in report:
            vl, va = evaluate(model, val_x, val_y)
            print(f"  step {step:4d}  batch ce {loss.item():.3f}  grad-norm {gnorm.item():5.2f}  "
                  f"val ce {vl:.3f}  val beats right {va:4.1f}%")
    return order


base = 100.0 * (vote_baseline(val_x) == val_y).mean()
print(f"{len(train_x)} phrases to learn from, {len(val_x)} held out; chord-tone vote "
      f"gets {base:.1f}% of held-out beats")

t0 = time.time()
model, opt = build(seed=1)
vl, va = evaluate(model, val_x, val_y)
print(f"sitting 1 (untrained: val ce {vl:.3f}, {va:.1f}% right)")
order = rng.permutation(len(train_x))
order = run(model, opt, 1, 450, {1, 150, 300, 450}, order)

with tempfile.TemporaryDirectory() as tmp:
    wpath = os.path.join(tmp, "harmoniser.safetensors")
    spath = os.path.join(tmp, "adam_state.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
    before, _ = evaluate(model, val_x, val_y)
    saved_step = int(opt.state["step"].item())
    print(f"saved after step {saved_step} (val ce {before:.4f}); closing sitting 1")
    del model, opt

    model, opt = build(seed=99)
    fresh, _ = evaluate(model, val_x, val_y)
    model.load_weights(wpath)
    opt.init(model.trainable_parameters())
    opt.state = tree_unflatten(list(mx.load(spath).items()))
    mx.eval(model.parameters(), opt.state)
    after, _ = evaluate(model, val_x, val_y)
    print(f"sitting 2: fresh model val ce {fresh:.3f}, after loading {after:.4f} "
          f"(difference {abs(after - before):.1e}), Adam resumes at step {int(opt.state['step'].item())}")

order = run(model, opt, 451, 900, {451, 600, 750, 900}, order)
vl, va = evaluate(model, val_x, val_y)
print(f"finished: val ce {vl:.3f}, {va:.1f}% of beats right (chord-tone vote {base:.1f}%), "
      f"{time.time() - t0:.1f}s")
