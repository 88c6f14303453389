"""Bell foundry: self-supervised embeddings of struck-bell partial spectra.

Two 'strikes' of the same bell (different clapper force, mic placement, room noise) form a
positive pair. Objective: alignment + uniformity on the hypersphere (Wang & Isola), which is
negative by design. Training runs in two sessions: the first saves a checkpoint
(weights + optimizer state + step), the second reloads it into fresh objects and continues.
A nearest-centroid probe of the bell's tuning family is compared with a random-encoder baseline.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(11)
BINS, FAMILIES = 40, 6
freqs = np.linspace(0, 1, BINS)
family_partials = rng.uniform(0.05, 0.95, (FAMILIES, 5))


def bell(fam):
    p = family_partials[fam] + rng.normal(0, 0.05, 5)
    return p


def strike(p):
    amp = rng.uniform(0.4, 1.6)
    tilt = rng.normal(0, 0.3)
    spec = sum(np.exp(-((freqs - c) ** 2) / 0.0008) * (1.0 - 0.12 * k) for k, c in enumerate(p))
    spec = amp * spec * np.exp(tilt * freqs) + rng.normal(0, 0.15, BINS)
    return np.log1p(np.maximum(spec, 0.0))


def make(n):
    fam = rng.integers(0, FAMILIES, n)
    ps = [bell(f) for f in fam]
    a = np.stack([strike(p) for p in ps]).astype(np.float32)
    b = np.stack([strike(p) for p in ps]).astype(np.float32)
    return mx.array(a), mx.array(b), fam


A_tr, B_tr, F_tr = make(1200)
A_te, _, F_te = make(300)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(BINS, 128), nn.SiLU(), nn.Linear(128, 128), nn.SiLU(),
                                 nn.Linear(128, 16))

    def __call__(self, x):
        z = self.net(x)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


def align_uniform(za, zb, t=2.0):
    align = ((za - zb) ** 2).sum(-1).mean()
    z = mx.concatenate([za, zb])
    d2 = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    n = z.shape[0]
    off = 1.0 - mx.eye(n)
    unif = mx.log((mx.exp(-t * d2) * off).sum() / (n * (n - 1)))
    return align + unif, align, unif


def probe(enc):
    ztr, zte = enc(A_tr), enc(A_te)
    cents = mx.stack([ztr[mx.array(np.where(F_tr == f)[0])].mean(0) for f in range(FAMILIES)])
    pred = np.array(mx.argmax(zte @ cents.T, axis=1))
    return float((pred == F_te).mean())


def loss_fn(enc, a, b):
    return align_uniform(enc(a), enc(b))[0]


def run_session(enc, opt, start, stop, tag):
    lg = nn.value_and_grad(enc, loss_fn)
    for step in range(start, stop):
        idx = mx.array(rng.choice(A_tr.shape[0], 64, replace=False))
        loss, g = lg(enc, A_tr[idx], B_tr[idx])
        opt.update(enc, g)
        mx.eval(enc.parameters(), opt.state, loss)
        if step % 100 == 0 or step == stop - 1:
            _, al, un = align_uniform(enc(A_tr[idx]), enc(B_tr[idx]))
            print(f"[{tag}] step {step:4d} loss {loss.item():+.4f} align {al.item():.4f} uniform {un.item():+.4f}")


mx.random.seed(5)
baseline = Encoder()
mx.eval(baseline.parameters())
print(f"random-encoder probe acc {probe(baseline):.3f}  chance {1/FAMILIES:.3f}")

enc = Encoder()
mx.eval(enc.parameters())
opt = optim.Adam(learning_rate=1e-3)
t0 = time.time()
run_session(enc, opt, 0, 400, "session1")
print(f"session1 probe acc {probe(enc):.3f}")

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "enc.safetensors")
spath = os.path.join(ckdir, "opt.safetensors")
enc.save_weights(wpath)
mx.save_safetensors(spath, dict(tree_flatten(opt.state)))
print("checkpoint written at step 400")

enc2 = Encoder()
enc2.load_weights(wpath)
opt2 = optim.Adam(learning_rate=1e-3)
opt2.state = tree_unflatten(list(mx.load(spath).items()))
mx.eval(enc2.parameters())
print(f"resumed probe acc {probe(enc2):.3f} (optimizer step {opt2.step.item()})")
run_session(enc2, opt2, 400, 700, "session2")
print(f"final probe acc {probe(enc2):.3f}  random-encoder {probe(baseline):.3f}  time {time.time()-t0:.1f}s")
