"""Next-byte model on stdlib module docstrings; the byte embedding is a fixed
random codebook (frozen on purpose), only the MLP trains. Loss in bits per byte."""
import math, time, json, csv, textwrap, collections, random, string, argparse, heapq, fractions
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

CTX, DIM, HID = 6, 16, 128
text = "\n".join(m.__doc__ for m in (json, csv, textwrap, collections, random, string, argparse, heapq, fractions) if m.__doc__)
data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
n_win = len(data) - CTX
X = np.stack([data[i:i + n_win] for i in range(CTX)], axis=1)
Y = data[CTX:CTX + n_win]
rng = np.random.default_rng(7)
perm = rng.permutation(n_win)
cut = int(0.9 * n_win)
tr, va = perm[:cut], perm[cut:]
Xtr, Ytr, Xva, Yva = mx.array(X[tr]), mx.array(Y[tr]), mx.array(X[va]), mx.array(Y[va])

class ByteMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.codebook = nn.Embedding(256, DIM)
        self.l1 = nn.Linear(CTX * DIM, HID)
        self.l2 = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, 256)
    def __call__(self, x):
        h = self.codebook(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.l1(h))
        h = h + nn.gelu(self.l2(h))
        return self.out(h)

mx.random.seed(3)
model = ByteMLP()
model.codebook.freeze()          # fixed random byte codebook, by design
codebook0 = np.array(model.codebook.weight)
LN2 = math.log(2.0)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean") / LN2   # bits per byte

opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

# first-step gradient audit (eager)
l0, g0 = vg(model, Xtr[:128], Ytr[:128])
leaves = [(k, float(mx.abs(v).sum())) for k, v in __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(g0)]
zero = [k for k, s in leaves if s == 0.0]
print(f"corpus ............ {len(data)} bytes, {cut} train / {n_win - cut} val windows, uniform = 8.000 bpb")
print(f"grad audit ........ {len(leaves)} trainable leaves, zero-gradient leaves: {zero or 'none'} (codebook frozen)")

state = [model.state, opt.state]
@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    l, g = vg(model, x, y)
    opt.update(model, g)
    return l

def val_bpb():
    tot = 0.0
    for i in range(0, Xva.shape[0], 1024):
        tot += float(loss_fn(model, Xva[i:i+1024], Yva[i:i+1024])) * Xva[i:i+1024].shape[0]
    return tot / Xva.shape[0]

print(f"untrained ......... val {val_bpb():.3f} bpb")
BS, STEPS, EVERY, BETA = 128, 900, 150, 0.98
ema, t0 = 0.0, time.time()
for it in range(1, STEPS + 1):
    idx = mx.array(rng.integers(0, cut, BS))
    l = step(Xtr[idx], Ytr[idx])
    mx.eval(l, model.state, opt.state)
    ema = BETA * ema + (1 - BETA) * float(l)
    if it % EVERY == 0:
        ema_hat = ema / (1 - BETA ** it)          # bias-corrected EMA from a zero start
        print(f"step {it:>5} ...... train ema {ema_hat:.3f} bpb | val {val_bpb():.3f} bpb | {time.time() - t0:5.1f}s")
drift = float(np.abs(np.array(model.codebook.weight) - codebook0).max())
print(f"done .............. codebook max drift {drift:.1e}, final val {val_bpb():.3f} bpb")
