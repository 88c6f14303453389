"""Tram depot spare-parts lookup.

Mechanics measure a worn part (14 gauge readings, with wear and sloppy
calipers) and want the matching entry of the depot parts catalogue (600
entries, 18 catalogue fields).  The catalogue index was embedded long ago by a
legacy encoder; that encoder is kept frozen on purpose so the stored index
never has to be rebuilt.  Only the query (gauge) encoder is trained.

Supervision is listwise: for each query a reference scorer (the depot's slow
manual matching procedure, simulated from the hidden part geometry) gives a
soft preference over a 24-entry shortlist.  The loss is the ListNet
cross-entropy between that reference distribution and the student's softmax.
Because the reference distribution is itself soft, the loss cannot go below
the reference entropy; that floor is printed and the gap above it is the KL.

Optimiser: AdamW with cosine warm restarts (cycles of 150, 300, 600 steps).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

LATENT, DG, DC, EMB = 5, 14, 18, 24
N_PARTS, SHORT = 600, 24
REF_TEMP = 0.35

geo = rng.normal(size=(N_PARTS, LATENT))
Wc = rng.normal(size=(LATENT, DC)) / np.sqrt(LATENT)
Wg = rng.normal(size=(LATENT, DG)) / np.sqrt(LATENT)
catalogue = np.tanh(geo @ Wc) + 0.03 * rng.normal(size=(N_PARTS, DC))


def gauge(part_ids):
    g = geo[part_ids] + 0.15 * rng.normal(size=(len(part_ids), LATENT))
    wear = rng.uniform(0.85, 1.0, size=(len(part_ids), 1))
    x = wear * np.sinh(0.8 * (g @ Wg)) + 0.05 * rng.normal(size=(len(part_ids), DG))
    return x, g


def reference_scores(g_noisy):
    d2 = ((g_noisy[:, None, :] - geo[None]) ** 2).sum(-1)
    return -d2


class Encoder(nn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.inp = nn.Linear(d_in, hidden)
        self.mid = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, EMB)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = self.norm(h + nn.silu(self.mid(h)))
        e = self.out(h)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-8)


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.legacy = Encoder(DC, 64)
        self.gauge_enc = Encoder(DG, 128)
        self.legacy.freeze()


model = Lookup()
mx.eval(model.parameters())

# The legacy encoder gets a short fit of its own (catalogue-to-catalogue
# denoising contrast) before being frozen, as it was when the index was built.
legacy_probe = Encoder(DC, 64)
legacy_probe.update(model.legacy.parameters())


def legacy_loss(enc, a, b):
    ea, eb = enc(a), enc(b)
    logits = 12.0 * (ea @ eb.T)
    return nn.losses.cross_entropy(logits, mx.arange(a.shape[0]), reduction="mean")


lopt = optim.Adam(learning_rate=2e-3)
lgrad = nn.value_and_grad(legacy_probe, legacy_loss)
cat_np = catalogue.astype(np.float32)
for _ in range(250):
    ids = rng.choice(N_PARTS, 96, replace=False)
    a = mx.array(cat_np[ids] + 0.1 * rng.normal(size=(96, DC)).astype(np.float32))
    b = mx.array(cat_np[ids] + 0.1 * rng.normal(size=(96, DC)).astype(np.float32))
    _, g = lgrad(legacy_probe, a, b)
    lopt.update(legacy_probe, g)
    mx.eval(legacy_probe.parameters(), lopt.state)
model.legacy.update(legacy_probe.parameters())
model.legacy.freeze()
mx.eval(model.parameters())

index = model.legacy(mx.array(cat_np))          # stored once, never rebuilt
mx.eval(index)
legacy_snapshot = {k: np.array(v) for k, v in tree_flatten(model.legacy.parameters())}

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_frozen = sum(v.size for _, v in tree_flatten(model.legacy.parameters()))
print(f"catalogue {N_PARTS} parts, shortlist {SHORT}; trainable params {n_train}, "
      f"frozen legacy params {n_frozen} (kept frozen on purpose)")


def shortlist(ref):
    """Top-SHORT entries of the reference scorer, true part always included."""
    return np.argsort(-ref, axis=1)[:, :SHORT]


def listnet_loss(model, xq, cand, target, scale):
    eq = model.gauge_enc(xq)                       # (B, EMB)
    ec = index[cand]                               # (B, SHORT, EMB)
    s = scale * mx.sum(eq[:, None, :] * ec, axis=-1)
    logp = s - mx.logsumexp(s, axis=1, keepdims=True)
    return -mx.mean(mx.sum(target * logp, axis=1))


def make_batch(bsz):
    ids = rng.choice(N_PARTS, bsz)
    xq, g_noisy = gauge(ids)
    ref = reference_scores(g_noisy)
    cand = shortlist(ref)
    r = np.take_along_axis(ref, cand, axis=1) / REF_TEMP
    r = r - r.max(1, keepdims=True)
    target = np.exp(r) / np.exp(r).sum(1, keepdims=True)
    ent = -(target * np.log(target + 1e-12)).sum(1).mean()
    return (mx.array(xq.astype(np.float32)), mx.array(cand.astype(np.int32)),
            mx.array(target.astype(np.float32)), ent, ids)


def sgdr(step, cycles=(150, 300, 600), peak=3e-3, floor=5e-5):
    s = step
    for c in cycles:
        if s < c:
            return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * s / c))
        s -= c
    return floor


# held-out evaluation queries: fresh gauge readings of every part
xe_np, _ = gauge(np.arange(N_PARTS))
xe = mx.array(xe_np.astype(np.float32))


def evaluate():
    eq = model.gauge_enc(xe)
    order = mx.argsort(-(eq @ index.T), axis=1)
    truth = mx.arange(N_PARTS)[:, None]
    r1 = mx.mean(order[:, 0:1] == truth).item()
    r5 = mx.mean(mx.any(order[:, :5] == truth, axis=1)).item()
    return r1, r5


# baseline: untrained gauge encoder against the same index
r1_0, r5_0 = evaluate()
print(f"baseline (untrained gauge encoder): r@1 {r1_0:.3f}  r@5 {r5_0:.3f}; "
      f"chance r@1 {1/N_PARTS:.4f}")

opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, listnet_loss)
SCALE = 20.0
TOTAL = 1050
t0 = time.time()
win_loss, win_ent = [], []
for step in range(TOTAL):
    opt.learning_rate = sgdr(step)
    xq, cand, target, ent, _ = make_batch(64)
    loss, grads = grad_fn(model, xq, cand, target, SCALE)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    win_loss.append(loss.item())
    win_ent.append(ent)
    if (step + 1) % 75 == 0:
        L, H = float(np.mean(win_loss)), float(np.mean(win_ent))
        r1, r5 = evaluate()
        print(f"step {step + 1:5d} | lr {sgdr(step):.2e} | listnet {L:.4f} | "
              f"floor(H_ref) {H:.4f} | KL {L - H:.4f} | r@1 {r1:.3f} | r@5 {r5:.3f}")
        win_loss, win_ent = [], []
    if step in (149, 449):
        print(f"   warm restart after step {step + 1}: lr back to 3.0e-03")

drift = max(float(np.abs(np.array(v) - legacy_snapshot[k]).max())
            for k, v in tree_flatten(model.legacy.parameters()))
r1, r5 = evaluate()
print(f"final: r@1 {r1:.3f} r@5 {r5:.3f} (baseline r@1 {r1_0:.3f}, chance {1/N_PARTS:.4f})")
print(f"legacy encoder max drift {drift:.1e} (frozen, index still valid)")
print(f"done in {time.time() - t0:.1f}s")
