"""Queen-piping syllable transcription with a small RNN-Transducer.

Synthetic 10-band hive microphone frames carry 1-4 syllables (toot / quack /
hiss / buzz), each 2-3 frames long with 1-2 silent frames around them.
Encoder: Conv1d stack; predictor: embedding of the previous emitted syllable +
GRU; joint: tanh(enc + pred) -> Linear.  The transducer loss is the log-space
forward recursion over the (frame, label) lattice, written out in mlx.core.

Schedule: linear warmup from lr 0 over 40 steps, then cosine decay to a 10% floor.  Halfway
through, the run writes a checkpoint (weights + optimizer state), rebuilds
model and optimizer from disk, and resumes.
"""
import math
import os
import shutil
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
T = 18           # frames per clip
U_MAX = 4        # max syllables per clip
N_SYL = 4        # syllable classes, blank = 0
V = N_SYL + 1
D_IN = 10
BATCH = 32
STEPS = 660
RESUME_AT = 330
PEAK_LR = 3e-3
WARMUP = 40

rng = np.random.default_rng(SEED)
PROTOS = rng.normal(0.0, 1.0, size=(N_SYL, D_IN)).astype(np.float32) * 1.6


def make_clip():
    n = int(rng.integers(1, U_MAX + 1))
    labels = rng.integers(1, V, size=n)
    frames = []
    frames += [None] * int(rng.integers(1, 3))
    for lab in labels:
        frames += [int(lab)] * int(rng.integers(2, 4))
        frames += [None] * int(rng.integers(1, 3))
    frames = frames[:T] + [None] * max(0, T - len(frames))
    x = rng.normal(0.0, 0.6, size=(T, D_IN)).astype(np.float32)
    for t, lab in enumerate(frames):
        if lab is not None:
            x[t] += PROTOS[lab - 1]
    # every syllable must fit in the clip
    kept = []
    prev = None
    for lab in frames:
        if lab is not None and lab != prev:
            kept.append(lab)
        prev = lab
    y = np.zeros(U_MAX, np.int32)
    y[: len(kept)] = kept
    return x, y, len(kept)


def make_set(n):
    xs, ys, ls = zip(*(make_clip() for _ in range(n)))
    return np.stack(xs), np.stack(ys), np.array(ls, np.int32)


Xtr, Ytr, Ltr = make_set(2048)
Xva, Yva, Lva = make_set(256)


class Transducer(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.c1 = nn.Conv1d(D_IN, d, 3, padding=1)
        self.c2 = nn.Conv1d(d, d, 3, padding=1)
        self.emb = nn.Embedding(V, d)
        self.gru = nn.GRU(d, d)
        self.enc_proj = nn.Linear(d, d)
        self.pred_proj = nn.Linear(d, d)
        self.out = nn.Linear(d, V)

    def encode(self, x):
        h = nn.gelu(self.c1(x))
        return nn.gelu(self.c2(h)) + h                     # (B,T,d)

    def predict(self, y):
        # leading blank (start) then labels -> U_MAX+1 predictor states
        start = mx.zeros((y.shape[0], 1), mx.int32)
        tok = mx.concatenate([start, y], axis=1)
        return self.gru(self.emb(tok))                      # (B,U+1,d)

    def joint(self, enc, pred):
        z = mx.tanh(self.enc_proj(enc)[:, :, None, :] + self.pred_proj(pred)[:, None, :, :])
        return nn.log_softmax(self.out(z), axis=-1)          # (B,T,U+1,V)


def transducer_nll(logp, y, lens):
    B = y.shape[0]
    blank = logp[..., 0]                                    # (B,T,U+1)
    emit = mx.take_along_axis(logp[:, :, :U_MAX, :], y[:, None, :, None], axis=-1)[..., 0]  # (B,T,U)
    neg = mx.full((B,), -1e30)
    rows = []
    prev = None
    for t in range(T):
        row = []
        for u in range(U_MAX + 1):
            if t == 0 and u == 0:
                a = mx.zeros((B,))
            else:
                from_left = prev[u] + blank[:, t - 1, u] if t > 0 else neg
                from_below = row[u - 1] + emit[:, t, u - 1] if u > 0 else neg
                a = mx.logaddexp(from_left, from_below)
            row.append(a)
        rows.append(mx.stack(row, axis=1))
        prev = row
    alpha_T = rows[-1]                                      # (B,U+1)
    last = mx.take_along_axis(alpha_T, lens[:, None], axis=1)[:, 0]
    last_blank = mx.take_along_axis(blank[:, T - 1, :], lens[:, None], axis=1)[:, 0]
    return -(last + last_blank)                             # (B,)


def loss_fn(model, x, y, lens):
    logp = model.joint(model.encode(x), model.predict(y))
    nll = transducer_nll(logp, y, lens)
    return (nll / (lens.astype(mx.float32) + 1.0)).mean()


def greedy_decode(model, x):
    enc = model.encode(x)
    B = x.shape[0]
    hyps = [[] for _ in range(B)]
    for t in range(T):
        for _ in range(2):                                  # at most 2 symbols per frame
            y = np.zeros((B, U_MAX), np.int32)
            for b, h in enumerate(hyps):
                y[b, : min(len(h), U_MAX)] = h[:U_MAX]
            pred = model.predict(mx.array(y))
            idx = mx.array([min(len(h), U_MAX) for h in hyps])
            p = mx.take_along_axis(pred, idx[:, None, None], axis=1)   # (B,1,d)
            lp = model.joint(enc[:, t : t + 1], p)[:, 0, 0]            # (B,V)
            k = np.array(mx.argmax(lp, axis=-1))
            if (k == 0).all():
                break
            for b in range(B):
                if k[b] != 0 and len(hyps[b]) < U_MAX + 2:
                    hyps[b].append(int(k[b]))
    return hyps


def edit(a, b):
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[-1]


def syllable_error_rate(hyps, Y, L):
    errs = sum(edit(h, list(Y[i, : L[i]])) for i, h in enumerate(hyps))
    return errs / int(L.sum())


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP
    frac = (step - WARMUP) / max(1, STEPS - WARMUP)
    return PEAK_LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))


def build():
    mx.random.seed(SEED)
    model = Transducer()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=0.0)
    return model, opt


def train_steps(model, opt, start, stop, order):
    step_fn = nn.value_and_grad(model, loss_fn)
    run, n = 0.0, 0
    for step in range(start, stop):
        idx = order[(step * BATCH) % len(order): (step * BATCH) % len(order) + BATCH]
        if len(idx) < BATCH:
            idx = order[:BATCH]
        opt.learning_rate = lr_at(step)
        loss, grads = step_fn(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]), mx.array(Ltr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        n += 1
        if (step + 1) % 30 == 0:
            print(f"step {step + 1:4d}  lr {lr_at(step):.5f}  transducer_nll/sym {run / n:.4f}", flush=True)
            run, n = 0.0, 0
        if (step + 1) % 165 == 0:
            model.eval()
            vl = loss_fn(model, mx.array(Xva), mx.array(Yva), mx.array(Lva)).item()
            ser = syllable_error_rate(greedy_decode(model, mx.array(Xva[:128])), Yva[:128], Lva[:128])
            model.train()
            print(f"  eval step {step + 1}: val nll/sym {vl:.4f}  SER {ser:.3f}  (blank-only SER 1.000)", flush=True)


def main():
    t0 = time.time()
    print(f"clips train {len(Xtr)} val {len(Xva)}  mean syllables {Ltr.mean():.2f}  frames {T}")
    order = np.random.default_rng(SEED + 1).permutation(len(Xtr))
    model, opt = build()
    model.eval()
    print(f"init val nll/sym {loss_fn(model, mx.array(Xva), mx.array(Yva), mx.array(Lva)).item():.4f}")
    model.train()
    train_steps(model, opt, 0, RESUME_AT, order)

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "opt.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"checkpoint written at step {RESUME_AT}; rebuilding from disk")

    model, opt = build()
    model.load_weights(wpath)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    model.eval()
    print(f"resumed val nll/sym {loss_fn(model, mx.array(Xva), mx.array(Yva), mx.array(Lva)).item():.4f}")
    model.train()
    train_steps(model, opt, RESUME_AT, STEPS, order)

    model.eval()
    hyps = greedy_decode(model, mx.array(Xva))
    ser = syllable_error_rate(hyps, Yva, Lva)
    print(f"final: val SER {ser:.3f}  (blank-only baseline 1.000)")
    for i in range(3):
        print(f"  ref {[int(v) for v in Yva[i, :Lva[i]]]}  hyp {hyps[i]}")
    shutil.rmtree(ckdir, ignore_errors=True)
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
