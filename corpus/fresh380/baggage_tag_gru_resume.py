"""Baggage-hall tag printer: character language model over tag lines.

Tag lines have a set layout; several fields are uniformly random, so there is
an exact entropy floor (printed) that no model can beat.  Training runs in two
sessions: session 1 saves weights + optimizer state to disk and the process
state is thrown away; session 2 rebuilds everything from the files and goes on.
Gradients are accumulated over 2 micro-batches per optimizer step.
"""
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten

random.seed(5)
np.random.seed(5)
mx.random.seed(5)

AIRPORTS = ["LHR", "MAN", "EDI", "BHX", "GLA", "BRS", "NCL", "LPL"]
BELTS = "ABCDEF"


def tag():
    return (f"TAG {random.choice(AIRPORTS)} BELT {random.choice(BELTS)} "
            f"WT {random.randint(10, 32)}.{random.randint(0, 9)} "
            f"SEQ {random.randint(0, 99999):05d}\n")


LINE_LEN = len(tag())
bits_per_line = (math.log2(len(AIRPORTS)) + math.log2(len(BELTS)) + math.log2(23)
                 + math.log2(10) + 5 * math.log2(10))
FLOOR = bits_per_line / LINE_LEN

train_text = "".join(tag() for _ in range(2500))
valid_text = "".join(tag() for _ in range(150))
chars = sorted(set(train_text + valid_text))
stoi = {c: i for i, c in enumerate(chars)}
V = len(chars)
tr = np.array([stoi[c] for c in train_text], dtype=np.int32)
va = np.array([stoi[c] for c in valid_text], dtype=np.int32)
print(f"{V} symbols, {LINE_LEN} chars per tag, source floor {FLOOR:.3f} bits/char, "
      f"uniform {math.log2(V):.3f} bits/char")

CTX, BATCH, ACCUM = 24, 16, 2


class TagLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 24)
        self.rnn = nn.GRU(24, 96)
        self.out = nn.Linear(96, V)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def batch():
    s = np.random.randint(0, len(tr) - CTX - 1, BATCH)
    return (mx.array(np.stack([tr[i:i + CTX] for i in s])),
            mx.array(np.stack([tr[i + 1:i + CTX + 1] for i in s])))


def valid_bits(model):
    n = (len(va) - 1) // CTX
    x = mx.array(np.stack([va[i * CTX:(i + 1) * CTX] for i in range(n)]))
    y = mx.array(np.stack([va[i * CTX + 1:(i + 1) * CTX + 1] for i in range(n)]))
    return loss_fn(model, x, y).item() / math.log(2)


TOTAL = 160
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 5e-3, 20), optim.cosine_decay(5e-3, TOTAL - 20, 2e-4)], [20])


def make():
    model = TagLM()
    opt = optim.Adam(learning_rate=sched)
    return model, opt


def train(model, opt, first, last, log):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(first, last + 1):
        acc, tot = None, 0.0
        for _ in range(ACCUM):
            x, y = batch()
            loss, g = vg(model, x, y)
            acc = g if acc is None else tree_map(lambda a, b: a + b, acc, g)
            tot += loss
        acc = tree_map(lambda a: a / ACCUM, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state, tot)
        log.append((step, tot.item() / ACCUM / math.log(2), opt.learning_rate.item()))


ckpt = tempfile.mkdtemp(prefix="tagprinter_")
log = []

# ---- session 1 ----------------------------------------------------------------------
model, opt = make()
print(f"session 1: start valid {valid_bits(model):.3f} bits/char, training quietly ...")
t0 = time.perf_counter()
train(model, opt, 1, 80, log)
v1 = valid_bits(model)
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optimizer.safetensors"),
                    dict(tree_flatten(opt.state)))
np.save(os.path.join(ckpt, "progress.npy"), np.array([80]))
print(f"session 1: 80 steps in {time.perf_counter() - t0:.1f}s, valid {v1:.3f} bits/char, "
      f"saved to {os.path.basename(ckpt)}")
del model, opt

# ---- session 2: rebuild from disk ---------------------------------------------------
model, opt = make()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optimizer.safetensors")).items()))
resumed_at = int(np.load(os.path.join(ckpt, "progress.npy"))[0])
print(f"session 2: resumed at step {opt.state['step'].item()} "
      f"(file says {resumed_at}), valid {valid_bits(model):.3f} bits/char")
t0 = time.perf_counter()
train(model, opt, resumed_at + 1, TOTAL, log)
v2 = valid_bits(model)
print(f"session 2: {TOTAL - resumed_at} steps in {time.perf_counter() - t0:.1f}s")

print("step   lr        train bits/char")
for step, bits, lr in log:
    if step in (1, 2, 10, 20, 40, 79, 80, 81, 82, 120, 159, 160):
        print(f"{step:4d}   {lr:.2e}  {bits:.3f}")
print(f"final valid {v2:.3f} bits/char (floor {FLOOR:.3f}, gap {v2 - FLOOR:+.3f})")
