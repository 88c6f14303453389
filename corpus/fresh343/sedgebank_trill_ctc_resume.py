"""Sedge warbler song transcription at a reedbed ringing station.

Synthetic 16-band filterbank clips (variable length, right-padded) carry 2-6
song syllables from a 6-type inventory. A length-aware bidirectional GRU emits
per-frame syllable posteriors and is trained with a CTC objective written in
MLX (log-space forward recursion over the blank-extended label lattice).
AdamW with a linear warmup that starts at exactly lr=0, then cosine decay.
Time masking on the training clips. Halfway through, the run saves weights and
optimizer state, rebuilds everything from disk and carries on.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 11
N_BANDS = 16
N_SYL = 6            # syllable types 1..6, 0 = blank
N_CLASSES = N_SYL + 1
T_MAX = 30
L_MAX = 6
BATCH = 32
STEPS = 170
WARMUP = 30
PEAK_LR = 3e-3
SAVE_AT = 85
NEG = -1e9

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)
PROTOS = rng.normal(0.0, 1.0, size=(N_SYL + 1, N_BANDS)).astype(np.float32)
PROTOS[0] *= 0.15    # near-silence between syllables


def make_clip(r):
    n = int(r.integers(2, L_MAX + 1))
    syl = []
    for _ in range(n):
        s = int(r.integers(1, N_SYL + 1))
        syl.append(s)
    frames = []
    frames += [0] * int(r.integers(0, 3))
    for i, s in enumerate(syl):
        if i > 0 and (s == syl[i - 1] or r.random() < 0.5):
            frames += [0] * int(r.integers(1, 3))
        frames += [s] * int(r.integers(1, 4))
    frames += [0] * int(r.integers(0, 3))
    if len(frames) > T_MAX:
        return None, None
    x = PROTOS[np.array(frames)] + r.normal(0, 1.0, size=(len(frames), N_BANDS))
    return x.astype(np.float32), syl


def make_set(n, r):
    X = np.zeros((n, T_MAX, N_BANDS), np.float32)
    Y = np.zeros((n, L_MAX), np.int32)
    xl = np.zeros(n, np.int32)
    yl = np.zeros(n, np.int32)
    for i in range(n):
        x, y = make_clip(r)
        while x is None:
            x, y = make_clip(r)
        X[i, : len(x)] = x
        Y[i, : len(y)] = y
        xl[i] = len(x)
        yl[i] = len(y)
    return X, Y, xl, yl


train = make_set(4000, rng)
valid = make_set(400, rng)


def reverse_within(x, lengths):
    # reverse each sequence inside its valid length, padding stays at the end
    t = mx.arange(x.shape[1])[None, :]
    idx = mx.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return mx.take_along_axis(x, idx[:, :, None], axis=1)


class Tagger(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.front = nn.Linear(N_BANDS, hidden)
        self.fwd = nn.GRU(hidden, hidden)
        self.bwd = nn.GRU(hidden, hidden)
        self.norm = nn.LayerNorm(2 * hidden)
        self.head = nn.Linear(2 * hidden, N_CLASSES)

    def __call__(self, x, lengths):
        h = nn.gelu(self.front(x))
        f = self.fwd(h)
        b = reverse_within(self.bwd(reverse_within(h, lengths)), lengths)
        z = self.norm(mx.concatenate([f, b], axis=-1))
        return nn.log_softmax(self.head(z), axis=-1)


def ctc_nll(logp, labels, in_len, lab_len):
    B, T, _ = logp.shape
    L = labels.shape[1]
    S = 2 * L + 1
    ext = mx.concatenate(
        [mx.stack([mx.zeros_like(labels), labels], axis=2).reshape(B, 2 * L),
         mx.zeros((B, 1), dtype=mx.int32)], axis=1)
    emit = mx.take_along_axis(logp, mx.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)
    s_idx = mx.arange(S)[None, :]
    prev2 = mx.concatenate([mx.full((B, 2), -1, dtype=mx.int32), ext[:, :-2]], axis=1)
    can_skip = (ext != 0) & (ext != prev2)
    alpha = mx.where(s_idx < 2, emit[:, 0, :], NEG)
    pad1 = mx.full((B, 1), NEG)
    pad2 = mx.full((B, 2), NEG)
    for t in range(1, T):
        a1 = mx.concatenate([pad1, alpha[:, :-1]], axis=1)
        a2 = mx.concatenate([pad2, alpha[:, :-2]], axis=1)
        a2 = mx.where(can_skip, a2, NEG)
        new = mx.logsumexp(mx.stack([alpha, a1, a2], axis=0), axis=0) + emit[:, t, :]
        alpha = mx.where((t < in_len)[:, None], new, alpha)
    last = mx.take_along_axis(alpha, (2 * lab_len)[:, None], axis=1)[:, 0]
    before = mx.take_along_axis(alpha, (2 * lab_len - 1)[:, None], axis=1)[:, 0]
    return -mx.logaddexp(last, before)


def loss_fn(model, x, y, xl, yl):
    nll = ctc_nll(model(x, xl), y, xl, yl)
    return mx.mean(nll / yl.astype(mx.float32))


def time_mask(x, xl, r):
    x = x.copy()
    for i in range(len(x)):
        w = int(r.integers(0, 4))
        if w and xl[i] > w:
            s = int(r.integers(0, xl[i] - w))
            x[i, s : s + w] = 0.0
    return x


def greedy(logp, xl):
    best = np.array(mx.argmax(logp, axis=-1))
    out = []
    for row, n in zip(best, xl):
        seq, prev = [], 0
        for k in row[:n]:
            if k != prev and k != 0:
                seq.append(int(k))
            prev = k
        out.append(seq)
    return out


def edit(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        p, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            p, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, p + (a[i - 1] != b[j - 1]))
    return d[len(b)]


def evaluate(model, data):
    X, Y, xl, yl = data
    logp = model(mx.array(X), mx.array(xl))
    loss = mx.mean(ctc_nll(logp, mx.array(Y), mx.array(xl), mx.array(yl)) / mx.array(yl).astype(mx.float32))
    hyp = greedy(logp, xl)
    errs = sum(edit(h, list(Y[i, : yl[i]])) for i, h in enumerate(hyp))
    return loss.item(), errs / int(yl.sum())


def schedule(step):
    step = mx.array(step, dtype=mx.float32)
    warm = PEAK_LR * step / WARMUP
    prog = mx.clip((step - WARMUP) / (STEPS - WARMUP), 0.0, 1.0)
    cos = 0.05 * PEAK_LR + 0.95 * PEAK_LR * 0.5 * (1 + mx.cos(math.pi * prog))
    return mx.where(step < WARMUP, warm, cos)


def build():
    m = Tagger()
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    return m, o


def baselines(data):
    X, Y, xl, yl = data
    ref = [list(Y[i, : yl[i]]) for i in range(len(Y))]
    n_tok = int(yl.sum())
    empty = sum(len(r) for r in ref) / n_tok
    common = int(np.bincount(Y[Y > 0]).argmax())
    med = int(np.median(yl))
    guess = sum(edit([common] * med, r) for r in ref) / n_tok
    return empty, guess


model, opt = build()
mx.eval(model.parameters())
n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"params={n_par}  train clips={len(train[0])}  valid clips={len(valid[0])}")
b_empty, b_common = baselines(valid)
print(f"valid baselines: empty transcript SER={b_empty:.3f}  most-common-syllable SER={b_common:.3f}")

step_fn = nn.value_and_grad(model, loss_fn)
data_rng = np.random.default_rng(SEED + 1)
ckpt_dir = tempfile.mkdtemp()
t0 = time.time()
step = 0
running = []
while step < STEPS:
    order = data_rng.permutation(len(train[0]))
    for k in range(0, len(order) - BATCH + 1, BATCH):
        if step >= STEPS:
            break
        idx = order[k : k + BATCH]
        xb = time_mask(train[0][idx], train[2][idx], data_rng)
        loss, grads = step_fn(model, mx.array(xb), mx.array(train[1][idx]),
                              mx.array(train[2][idx]), mx.array(train[3][idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        step += 1
        if step % 20 == 0 or step == 1:
            lr = schedule(step - 1).item()
            print(f"step {step:4d}  lr={lr:.2e}  ctc/label={np.mean(running):.4f}")
            running = []
        if step % 85 == 0:
            vl, ser = evaluate(model, valid)
            print(f"  eval step {step:4d}  valid ctc/label={vl:.4f}  valid SER={ser:.3f}")
        if step == SAVE_AT:
            model.save_weights(os.path.join(ckpt_dir, "tagger.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"),
                                dict(tree_flatten(opt.state)))
            before, _ = evaluate(model, valid)
            model, opt = build()
            model.load_weights(os.path.join(ckpt_dir, "tagger.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            step_fn = nn.value_and_grad(model, loss_fn)
            after, _ = evaluate(model, valid)
            print(f"  checkpoint written and reloaded at step {step} "
                  f"(valid ctc/label {before:.4f} -> {after:.4f}, optimizer step={int(opt.state['step'].item())})")

vl, ser = evaluate(model, valid)
print(f"final  valid ctc/label={vl:.4f}  valid SER={ser:.3f}  "
      f"(baselines {b_empty:.3f} / {b_common:.3f})  time={time.time() - t0:.1f}s")
X, Y, xl, yl = valid
hyp = greedy(model(mx.array(X[:4]), mx.array(xl[:4])), xl[:4])
for i in range(4):
    print(f"  ref={[int(v) for v in Y[i, : yl[i]]]}  hyp={hyp[i]}")
