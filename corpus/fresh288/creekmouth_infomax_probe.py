"""Tidal-creek sensor network: which salinity zone does each station sit in?

Stage 1 learns station embeddings without labels (Deep Graph Infomax on the
creek-connectivity graph), writes the encoder to disk and reloads it into a
fresh encoder. Stage 2 trains only a linear probe on 60 labelled stations,
with the encoder frozen. Everything is printed as tab-separated rows.
"""
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3)
mx.random.seed(3)

N, F, ZONES, H = 420, 16, 3, 48


def make_creek_graph():
    zone = rng.integers(0, ZONES, size=N)
    p_in, p_out = 0.045, 0.004
    same = zone[:, None] == zone[None, :]
    prob = np.where(same, p_in, p_out)
    upper = np.triu(rng.random((N, N)) < prob, k=1)
    src, dst = np.nonzero(upper)
    src, dst = np.concatenate([src, dst]), np.concatenate([dst, src])
    centres = rng.normal(0, 1, size=(ZONES, F))
    feats = 0.35 * centres[zone] + rng.normal(0, 1, size=(N, F))
    return zone, src, dst, feats.astype(np.float32)


zone_np, src_np, dst_np, x_np = make_creek_graph()
loops = np.arange(N)
SRC = mx.array(np.concatenate([src_np, loops]))
DST = mx.array(np.concatenate([dst_np, loops]))
deg = np.bincount(np.concatenate([dst_np, loops]), minlength=N).astype(np.float32)
NORM = mx.array((deg[np.concatenate([src_np, loops])] * deg[np.concatenate([dst_np, loops])]) ** -0.5)[:, None]
X = mx.array(x_np)
Y = mx.array(zone_np)


def propagate(h):
    return mx.zeros_like(h).at[DST].add(h[SRC] * NORM)


class CreekEncoder(nn.Module):
    def __init__(self, f_in, hidden):
        super().__init__()
        self.lin = nn.Linear(f_in, hidden)
        self.act = nn.PReLU(hidden)

    def __call__(self, x):
        return self.act(propagate(self.lin(x)))


class Infomax(nn.Module):
    def __init__(self, f_in, hidden):
        super().__init__()
        self.encoder = CreekEncoder(f_in, hidden)
        self.W = mx.random.normal((hidden, hidden)) * (1.0 / hidden) ** 0.5

    def __call__(self, x, perm):
        h_pos = self.encoder(x)
        h_neg = self.encoder(x[perm])
        summary = mx.sigmoid(h_pos.mean(axis=0))
        ws = self.W @ summary
        logits = mx.concatenate([h_pos @ ws, h_neg @ ws])
        targets = mx.concatenate([mx.ones(N), mx.zeros(N)])
        return nn.losses.binary_cross_entropy(logits, targets, with_logits=True, reduction="mean")


def row(*cells):
    print("\t".join(str(c) for c in cells), flush=True)


def probe(features, labelled, test, steps=300):
    clf = nn.Linear(features.shape[1], ZONES)
    opt = optim.Adam(learning_rate=0.02)

    def loss_fn(m):
        return nn.losses.cross_entropy(m(features[labelled]), Y[labelled], reduction="mean")

    vg = nn.value_and_grad(clf, loss_fn)
    for _ in range(steps):
        loss, g = vg(clf)
        opt.update(clf, g)
        mx.eval(clf.parameters(), opt.state)
    acc = (mx.argmax(clf(features[test]), axis=1) == Y[test]).astype(mx.float32).mean().item()
    return loss.item(), acc


t0 = time.time()
row("#stage", "step", "lr", "dgi_bce", "secs")
model = Infomax(F, H)
warm, total = 60, 400
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 1e-4)], [warm])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, lambda m, p: m(X, p))
for step in range(total):
    perm = mx.array(rng.permutation(N))
    lr_now = sched(mx.array(step)).item()
    loss, grads = vg(model, perm)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 40 == 0 or step == total - 1:
        row("infomax", step, f"{lr_now:.2e}", f"{loss.item():.4f}", f"{time.time() - t0:.1f}")

ckpt_dir = tempfile.mkdtemp()
path = os.path.join(ckpt_dir, "encoder.npz")
mx.savez(path, **dict(tree_flatten(model.encoder.parameters())))
del model, opt

encoder = CreekEncoder(F, H)
encoder.update(tree_unflatten(list(mx.load(path).items())))
encoder.freeze()
row("#reloaded", os.path.basename(path), "trainable_leaves", len(tree_flatten(encoder.trainable_parameters())))

idx = rng.permutation(N)
labelled = []
for z in range(ZONES):
    labelled += [i for i in idx if zone_np[i] == z][:20]
labelled = mx.array(np.array(labelled))
test = mx.array(np.array(sorted(set(range(N)) - set(labelled.tolist()))))

emb = mx.stop_gradient(encoder(X))
random_emb = mx.stop_gradient(CreekEncoder(F, H)(X))
row("#probe", "features", "train_ce", "test_acc_pct")
for name, feats in [("raw_readings", X), ("untrained_encoder", random_emb), ("infomax_encoder", emb)]:
    ce, acc = probe(feats, labelled, test)
    row("probe", name, f"{ce:.4f}", f"{100 * acc:.1f}")
row("#majority_pct", f"{100 * np.bincount(zone_np).max() / N:.1f}", "secs", f"{time.time() - t0:.1f}")
shutil.rmtree(ckpt_dir)
