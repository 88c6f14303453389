"""Knitting-machine punch tape: next-stitch prediction with a gated linear-attention LM.

The tape is an endless stream of patterns. Each pattern opens with a START stitch, states a
6-stitch motif, then knits 5 rows that repeat the motif (4% of stitches slip to a random
stitch), and a row-end mark after each row. A 2-layer gated linear-attention model reads
the stream in 32-stitch windows with the recurrent state carried from window to window
(truncated back-propagation through time). The run checkpoints at step 150, then a fresh
process-like restore (new model, new optimizer) resumes from the files.
"""
import math
import os
import tempfile
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_STITCH = 8                      # knit, purl, tuck, slip, cable-L, cable-R, yo, k2tog
START, ROW_END = N_STITCH, N_STITCH + 1
VOCAB = N_STITCH + 2
MOTIF, ROWS, SLIP = 6, 5, 0.04
WIN, CHUNK, STREAMS = 32, 16, 24
H, DK, DV, D = 2, 16, 16, 48


def pattern(rng):
    motif = rng.integers(0, N_STITCH, MOTIF)
    out = [START] + motif.tolist()
    for _ in range(ROWS):
        row = motif.copy()
        slip = rng.random(MOTIF) < SLIP
        row[slip] = rng.integers(0, N_STITCH, slip.sum())
        out += row.tolist() + [ROW_END]
    return out


class Tape:
    """STREAMS independent tapes, served as consecutive windows."""
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.buf = [[] for _ in range(STREAMS)]

    def window(self):
        rows = []
        for b in self.buf:
            while len(b) < WIN + 1:
                b += pattern(self.rng)
            rows.append(b[:WIN + 1])
            del b[:WIN]
        a = mx.array(np.array(rows, dtype=np.int32))
        return a[:, :-1], a[:, 1:]


def gla_chunk(q, k, v, log_g, S):
    """Gated linear attention on one chunk. q,k:(B,H,c,DK) v:(B,H,c,DV) log_g:(B,H,c)
    S:(B,H,DK,DV) carried state. Returns outputs and the state after the chunk."""
    c = q.shape[2]
    cum = mx.cumsum(log_g, axis=-1)                               # (B,H,c)
    decay = cum[..., :, None] - cum[..., None, :]                 # t - s
    mask = mx.arange(c)[:, None] >= mx.arange(c)[None, :]
    W = mx.exp(mx.where(mask, decay, -mx.inf))                    # (B,H,c,c)
    intra = ((q @ k.swapaxes(-1, -2)) * W) @ v
    inter = (q * mx.exp(cum)[..., None]) @ S
    tail = mx.exp(cum[..., -1:] - cum)[..., None]                 # decay to chunk end
    S = mx.exp(cum[..., -1])[..., None, None] * S + (k * tail).swapaxes(-1, -2) @ v
    return intra + inter, S


class GLABlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.qv = nn.Linear(D, H * (DK + DV), bias=False)
        self.k = nn.Linear(D, H * DK, bias=False)                 # keys read the previous stitch
        self.gate = nn.Linear(D, H)
        self.out_gate = nn.Linear(D, H * DV, bias=False)
        self.out = nn.Linear(H * DV, D, bias=False)
        self.ffn = nn.Sequential(nn.Linear(D, 2 * D), nn.GELU(), nn.Linear(2 * D, D))

    def __call__(self, x, S):
        B, L, _ = x.shape
        h = self.norm1(x)
        prev = mx.concatenate([mx.zeros_like(h[:, :1]), h[:, :-1]], axis=1)   # token shift
        q, v = mx.split(self.qv(h).reshape(B, L, H, -1).transpose(0, 2, 1, 3), [DK], axis=-1)
        k = self.k(prev).reshape(B, L, H, DK).transpose(0, 2, 1, 3)
        q = q * mx.rsqrt((q * q).sum(-1, keepdims=True) + 1e-6)
        k = k * mx.rsqrt((k * k).sum(-1, keepdims=True) + 1e-6)
        log_g = nn.log_sigmoid(self.gate(h) + 1.0).transpose(0, 2, 1)
        outs = []
        for c0 in range(0, L, CHUNK):
            o, S = gla_chunk(q[:, :, c0:c0 + CHUNK], k[:, :, c0:c0 + CHUNK],
                             v[:, :, c0:c0 + CHUNK], log_g[:, :, c0:c0 + CHUNK], S)
            outs.append(o)
        o = mx.concatenate(outs, axis=2).transpose(0, 2, 1, 3).reshape(B, L, -1)
        x = x + self.out(o * nn.silu(self.out_gate(h)))
        return x + self.ffn(self.norm2(x)), S


class StitchLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, D)
        self.blocks = [GLABlock() for _ in range(2)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)

    def __call__(self, x, states):
        h = self.emb(x)
        new = []
        for blk, S in zip(self.blocks, states):
            h, S = blk(h, S)
            new.append(S)
        return self.head(self.norm(h)), new


def zero_states(b):
    return [mx.zeros((b, H, DK, DV)) for _ in range(2)]


def loss_fn(model, x, y, states):
    logits, new = model(x, states)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), new


def build(seed_for_init):
    mx.random.seed(seed_for_init)
    model = StitchLM()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 40), optim.cosine_decay(3e-3, 260, 3e-4)], [40])
    opt = optim.Adam(learning_rate=sched)
    opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    return model, opt


def evaluate(model, n_windows=12):
    tape, states, nats = Tape(seed=999), zero_states(STREAMS), 0.0
    for _ in range(n_windows):
        x, y = tape.window()
        logits, states = model(x, states)
        nats += nn.losses.cross_entropy(logits, y, reduction="mean").item()
    return nats / n_windows / math.log(2)


# reference entropies (bits per stitch) of the stream itself
ref = Tape(seed=7)
counts = np.zeros(VOCAB)
for _ in range(40):
    counts += np.bincount(np.array(ref.window()[1]).ravel(), minlength=VOCAB)
p = counts / counts.sum()
unigram_bits = float(-(p * np.log2(p)).sum())
per_pattern = 1 + MOTIF + ROWS * (MOTIF + 1)
slip_bits = -(1 - SLIP + SLIP / N_STITCH) * math.log2(1 - SLIP + SLIP / N_STITCH) \
    - (N_STITCH - 1) * (SLIP / N_STITCH) * math.log2(SLIP / N_STITCH)
floor_bits = (MOTIF * math.log2(N_STITCH) + ROWS * MOTIF * slip_bits) / per_pattern
print(f"stream: {VOCAB} symbols, pattern length {per_pattern}, windows of {WIN}, {STREAMS} tapes")
print(f"unigram {unigram_bits:.3f} bits/stitch | floor (motif draws + slips) {floor_bits:.3f} bits/stitch")


def run(model, opt, tape, states, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(first, last + 1):
        x, y = tape.window()
        (loss, states), grads = step_fn(model, x, y, states)
        states = [mx.stop_gradient(S) for S in states]           # truncate BPTT at the window edge
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, states)
        if step % 25 == 0:
            bits = loss.item() / math.log(2)
            print(f"step {step:3d}  lr {opt.learning_rate.item():.2e}  train {bits:.3f} bits/stitch  "
                  f"vs unigram {bits - unigram_bits:+.3f}  state |S| {mx.abs(states[0]).max().item():.2f}"
                  f"  {time.time() - t0:.1f}s")
    return states


t0 = time.time()
ckpt = tempfile.mkdtemp(suffix="_stitch")
model, opt = build(276)
print(f"untrained: held-out {evaluate(model):.3f} bits/stitch")
tape = Tape(seed=1)
states = run(model, opt, tape, zero_states(STREAMS), 1, 150)

model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
mx.save_safetensors(os.path.join(ckpt, "carry.safetensors"), {f"S{i}": S for i, S in enumerate(states)})
held_before = evaluate(model)
print(f"checkpoint at step 150 -> {sorted(os.listdir(ckpt))}; held-out {held_before:.3f} bits/stitch")

del model, opt
model, opt = build(12345)                                          # different init on purpose
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
carry = mx.load(os.path.join(ckpt, "carry.safetensors"))
states = [carry[f"S{i}"] for i in range(2)]
held_after = evaluate(model)
print(f"resumed: optimizer step {opt.state['step'].item()}, lr {opt.learning_rate.item():.2e}, "
      f"held-out {held_after:.3f} bits/stitch (before save {held_before:.3f})")
states = run(model, opt, tape, states, 151, 300)

final = evaluate(model)
print(f"done: held-out {final:.3f} bits/stitch | unigram {unigram_bits:.3f} | floor {floor_bits:.3f} | "
      f"{time.time() - t0:.1f}s")
