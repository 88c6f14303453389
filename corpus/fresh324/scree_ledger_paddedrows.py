"""Quarry blast-ledger shorthand: a character-level causal convolution LM.

The character table is padded up to a multiple of 64 rows (a common layout trick);
rows past the real alphabet are never looked up and their logits are masked out,
so they keep their initial values for the whole run. Training is split in two
sessions: the first writes a checkpoint (weights + optimizer state + step), the
second rebuilds everything from that checkpoint and carries on.
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

rng = np.random.default_rng(11)
mx.random.seed(11)

BENCHES = ["north", "east", "lower", "upper", "pit3"]
ROCK = ["granite", "basalt", "gritstone", "shale"]


def ledger_line():
    bench = rng.choice(BENCHES)
    holes = int(rng.integers(4, 30))
    depth = round(float(rng.uniform(6, 18)), 1)
    charge = holes * depth * float(rng.uniform(1.8, 2.4))
    rock = rng.choice(ROCK)
    note = rng.choice(["ok", "ok", "ok", "flyrock", "misfire", "wet holes"])
    return f"{bench} b{holes}h d{depth}m {rock} q{charge:.0f}kg {note};"


text_train = " ".join(ledger_line() for _ in range(2500))
text_valid = " ".join(ledger_line() for _ in range(300))
chars = sorted(set(text_train + text_valid))
PAD = 0
stoi = {c: i + 1 for i, c in enumerate(chars)}
REAL_VOCAB = len(chars) + 1
TABLE_ROWS = 64 * math.ceil(REAL_VOCAB / 64)
print(f"alphabet {len(chars)} chars + pad = {REAL_VOCAB} real ids; table padded to {TABLE_ROWS} rows")

train_ids = np.array([stoi[c] for c in text_train], dtype=np.int32)
valid_ids = np.array([stoi[c] for c in text_valid], dtype=np.int32)
CTX = 40


class CausalConvLM(nn.Module):
    def __init__(self, rows, dim=48, layers=3):
        super().__init__()
        self.embed = nn.Embedding(rows, dim)
        self.convs = [nn.Conv1d(dim, dim, kernel_size=3) for _ in range(layers)]
        self.dilations = [1, 2, 4][:layers]
        self.norms = [nn.LayerNorm(dim) for _ in range(layers)]

    def __call__(self, x):
        h = self.embed(x)
        for conv, norm, d in zip(self.convs, self.norms, self.dilations):
            # causal: left-pad by 2*d and take every d-th tap by dilating the input manually
            padded = mx.pad(norm(h), [(0, 0), (2 * d, 0), (0, 0)])
            taps = mx.stack([padded[:, k * d : k * d + h.shape[1]] for k in range(3)], axis=2)
            w = conv.weight  # (out, k, in)
            y = mx.einsum("btki,oki->bto", taps, w) + conv.bias
            h = h + nn.gelu(y)
        return self.embed.as_linear(h)


ROW_OK = mx.arange(TABLE_ROWS) < REAL_VOCAB


def loss_fn(model, x, y):
    logits = model(x)
    logits = mx.where(ROW_OK, logits, -1e9)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def batch(ids, n):
    starts = rng.integers(0, len(ids) - CTX - 1, size=n)
    x = np.stack([ids[s : s + CTX] for s in starts])
    y = np.stack([ids[s + 1 : s + CTX + 1] for s in starts])
    return mx.array(x), mx.array(y)


vx, vy = batch(valid_ids, 256)


def valid_bpc(model):
    return loss_fn(model, vx, vy).item() / math.log(2)


counts = np.bincount(train_ids, minlength=REAL_VOCAB).astype(np.float64) + 1.0
unigram_bpc = float(-np.log2(counts[valid_ids] / counts.sum()).mean())
print(f"baselines (bits/char): uniform over alphabet {math.log2(REAL_VOCAB - 1):.3f}, unigram {unigram_bpc:.3f}")

TOTAL, WARM, PEAK, BATCH = 240, 30, 4e-3, 24


def make_opt():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 2e-4)], [WARM]
    )
    return optim.Adam(learning_rate=sched)


def train(model, opt, start, stop, tag):
    lg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(start, stop):
        lr_now = opt.learning_rate.item()
        x, y = batch(train_ids, BATCH)
        loss, grads = lg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == stop - 1:
            print(f"[{tag}] step {step:3d}  lr {lr_now:.6f}  train bits/char {loss.item() / math.log(2):.3f}")
    print(f"[{tag}] {stop - start} steps in {time.time() - t0:.1f}s")


model = CausalConvLM(TABLE_ROWS)
mx.eval(model.parameters())
init_table = np.array(model.embed.weight)
opt = make_opt()
print(f"step 0 valid bits/char {valid_bpc(model):.3f}")

HALF = 120
train(model, opt, 0, HALF, "session-1")
bpc_half = valid_bpc(model)
print(f"session-1 end: valid bits/char {bpc_half:.3f}")

ckdir = tempfile.mkdtemp("_scree_ckpt")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "optim.safetensors"), dict(tree_flatten(opt.state)))
with open(os.path.join(ckdir, "step.txt"), "w") as f:
    f.write(str(HALF))
print(f"checkpoint written ({len(os.listdir(ckdir))} files)")
del model, opt

# ---- second session: rebuild from the checkpoint ----
model = CausalConvLM(TABLE_ROWS)
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt = make_opt()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "optim.safetensors")).items()))
with open(os.path.join(ckdir, "step.txt")) as f:
    start = int(f.read())
mx.eval(model.parameters(), opt.state)
bpc_resumed = valid_bpc(model)
print(f"resumed at step {start}: valid bits/char {bpc_resumed:.3f} (checkpoint said {bpc_half:.3f})")
train(model, opt, start, TOTAL, "session-2")
bpc_final = valid_bpc(model)

table = np.array(model.embed.weight)
moved = np.abs(table - init_table).max(axis=1)
print("=== summary ===")
print(f"valid bits/char: unigram {unigram_bpc:.3f} | step {HALF} {bpc_half:.3f} | final {bpc_final:.3f}")
print(f"gain over unigram (bits/char, negative = better): {bpc_final - unigram_bpc:+.3f}")
print(f"table rows in use: max |change| {moved[:REAL_VOCAB].max():.4f}; "
      f"spare rows {REAL_VOCAB}..{TABLE_ROWS - 1}: max |change| {moved[REAL_VOCAB:].max():.4f}")
assert abs(bpc_resumed - bpc_half) < 1e-4
assert bpc_final < unigram_bpc - 1.0
print("done")
