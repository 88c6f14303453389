"""Neural bigram model (makemore part 1) for invented canal narrowboat names.

One-hot previous character -> single 27x27 weight matrix -> softmax, trained
full-batch with SGD and a small L2 penalty (the neural version of count
smoothing). The learning rate warms up from exactly 0. The run is split in two
sessions: session 1 saves weights + optimizer state, session 2 rebuilds
everything from the checkpoint and continues.
"""
import math
import os
import random
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(3)
mx.random.seed(3)

FIRST = ["Bl", "Br", "Ch", "D", "G", "Gr", "H", "K", "L", "M", "N", "P", "R", "S", "St", "T", "W"]
MID = ["a", "e", "i", "o", "u", "ai", "ee", "oa", "y"]
END = ["", "n", "ll", "rry", "ssa", "tte", "lly", "na", "dge", "ck"]
WORDS2 = ["", "", " rose", " belle", " star", " lass", " jay"]


def boat():
    s = random.choice(FIRST) + random.choice(MID) + random.choice(END)
    if random.random() < 0.5:
        s += random.choice(MID) + random.choice(END)
    return (s + random.choice(WORDS2)).lower().replace(" ", "")


names = [boat() for _ in range(3000)]
chars = sorted(set("".join(names)))
stoi = {c: i + 1 for i, c in enumerate(chars)}
stoi["."] = 0
V = len(stoi)
xs, ys = [], []
for w in names:
    seq = ["."] + list(w) + ["."]
    for a, b in zip(seq, seq[1:]):
        xs.append(stoi[a])
        ys.append(stoi[b])
xs = np.array(xs, dtype=np.int32)
ys = np.array(ys, dtype=np.int32)
print(f"{len(names)} names, {len(xs)} bigrams, vocab {V}")

# count-table reference (add-1 smoothing) on the same pairs
counts = np.ones((V, V))
np.add.at(counts, (xs, ys), 1.0)
P = counts / counts.sum(1, keepdims=True)
count_nll = float(-np.log(P[xs, ys]).mean())
print(f"reference: uniform {math.log(V):.4f} | count table nll {count_nll:.4f}")

X1h = mx.array(np.eye(V, dtype=np.float32)[xs])
Y = mx.array(ys)
REG = 0.01


class Bigram(nn.Module):
    def __init__(self):
        super().__init__()
        self.W = mx.random.normal((V, V)) * 0.01

    def __call__(self, x1h):
        return x1h @ self.W


def loss_fn(m, x, y):
    nll = nn.losses.cross_entropy(m(x), y, reduction="mean")
    return nll + REG * (m.W ** 2).mean(), nll


TOTAL, SPLIT, WARM, PEAK = 300, 150, 40, 40.0
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 5.0)], [WARM])


def build():
    m = Bigram()
    opt = optim.SGD(learning_rate=schedule, momentum=0.5)
    return m, opt


def run(m, opt, start, stop):
    vg = nn.value_and_grad(m, loss_fn)
    for step in range(start, stop):
        lr = opt.learning_rate.item() if step > 0 else 0.0
        (loss, nll), grads = vg(m, X1h, Y)
        opt.update(m, grads)
        mx.eval(m.parameters(), opt.state, loss, nll)
        if step % 25 == 0 or step == stop - 1:
            print(f"step {step:3d} | lr {lr:7.3f} | loss {loss.item():.4f} | nll {nll.item():.4f} | "
                  f"nll - count {nll.item() - count_nll:+.4f}")


# -------- session 1
model, opt = build()
mx.eval(model.parameters())
run(model, opt, 0, SPLIT)
ckpt = os.path.join(tempfile.mkdtemp(), "bigram_ckpt")
mx.save_safetensors(ckpt + "_model.safetensors", dict(tree_flatten(model.parameters())))
mx.save_safetensors(ckpt + "_opt.safetensors", dict(tree_flatten(opt.state)))
(_, nll_saved) = loss_fn(model, X1h, Y)
print(f"-- saved checkpoint at step {SPLIT}, nll {nll_saved.item():.4f}")
del model, opt

# -------- session 2
model, opt = build()
model.update(tree_unflatten(list(mx.load(ckpt + "_model.safetensors").items())))
opt.state = tree_unflatten(list(mx.load(ckpt + "_opt.safetensors").items()))
(_, nll_loaded) = loss_fn(model, X1h, Y)
print(f"-- resumed at step {SPLIT}, optimizer step {opt.step.item()}, nll {nll_loaded.item():.4f}")
run(model, opt, SPLIT, TOTAL)

(_, nll_final) = loss_fn(model, X1h, Y)
print(f"final nll {nll_final.item():.4f} vs count table {count_nll:.4f} (gap {nll_final.item() - count_nll:+.4f})")

# samples
itos = {i: c for c, i in stoi.items()}
out = []
for _ in range(10):
    ix, s = 0, ""
    while True:
        ix = mx.random.categorical(model.W[ix]).item()
        if ix == 0 or len(s) > 16:
            break
        s += itos[ix]
    out.append(s)
print("samples:", ", ".join(out))
