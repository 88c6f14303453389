"""Cave survey: predict which survey stations are joined by an unsurveyed passage.

Stations carry a position (east, north, depth) and rock/air readings. Known
passages form an edge list; 15% of them are held back and must be recovered
by a two-round mean-aggregation GNN encoder + dot-product decoder.
Training is split into two sessions: the first writes a checkpoint, the
second rebuilds everything from that checkpoint and carries on.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_ST = 360

# ---------------- synthetic cave ----------------
layer = rng.integers(0, 4, N_ST)                      # limestone bed
pos = np.stack([rng.uniform(0, 40, N_ST), rng.uniform(0, 40, N_ST),
                layer * 6.0 + rng.normal(0, 1.2, N_ST)], 1)
air = rng.normal(0, 1, N_ST) + 0.6 * layer           # draught reading
co2 = rng.normal(0, 1, N_ST) - 0.4 * layer
x_np = np.concatenate([pos / 20.0, np.eye(4)[layer], air[:, None], co2[:, None]], 1).astype(np.float32)

d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
same = layer[:, None] == layer[None, :]
p = np.exp(-d / 3.0) * np.where(same, 1.0, 0.15)
np.fill_diagonal(p, 0.0)
iu = np.triu_indices(N_ST, 1)
keep = rng.random(len(iu[0])) < np.clip(p[iu] * 2.2, 0, 0.95)
edges = np.stack([iu[0][keep], iu[1][keep]], 1)
rng.shuffle(edges)
n_hold = int(0.15 * len(edges))
val_pos, test_pos, train_pos = edges[:n_hold // 2], edges[n_hold // 2:n_hold], edges[n_hold:]
edge_set = set(map(tuple, edges)) | set((b, a) for a, b in edges)


def sample_non_edges(k, r):
    out = []
    while len(out) < k:
        a, b = r.integers(0, N_ST, 2)
        if a != b and (a, b) not in edge_set:
            out.append((a, b))
    return np.array(out)


val_neg = sample_non_edges(len(val_pos), rng)
test_neg = sample_non_edges(len(test_pos), rng)

# message passing only sees training passages, both directions
src_np = np.concatenate([train_pos[:, 0], train_pos[:, 1]])
dst_np = np.concatenate([train_pos[:, 1], train_pos[:, 0]])
deg_np = np.bincount(dst_np, minlength=N_ST).astype(np.float32)
X = mx.array(x_np)
SRC, DST = mx.array(src_np), mx.array(dst_np)
INV_DEG = mx.array(1.0 / np.maximum(deg_np, 1.0))[:, None]
print(f"stations={N_ST} passages={len(edges)} train={len(train_pos)} "
      f"val={len(val_pos)} test={len(test_pos)} isolated_in_train={(deg_np == 0).sum()}")


class MeanConv(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        self.self_lin = nn.Linear(din, dout)
        self.nbr_lin = nn.Linear(din, dout, bias=False)

    def __call__(self, h):
        agg = mx.zeros((h.shape[0], h.shape[1])).at[DST].add(h[SRC]) * INV_DEG
        return self.self_lin(h) + self.nbr_lin(agg)


class PassageNet(nn.Module):
    def __init__(self, din, hid=48, emb=24):
        super().__init__()
        self.c1 = MeanConv(din, hid)
        self.c2 = MeanConv(hid, emb)

    def embed(self):
        return self.c2(nn.relu(self.c1(X)))

    def __call__(self, pairs):
        z = self.embed()
        return mx.sum(z[pairs[:, 0]] * z[pairs[:, 1]], axis=-1)


def bce(model, pairs, labels):
    return mx.mean(nn.losses.binary_cross_entropy(model(pairs), labels, with_logits=True))


def auc(scores, labels):
    order = np.argsort(scores)
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    npos = labels.sum()
    nneg = len(labels) - npos
    return (ranks[labels == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


# common-neighbour heuristic on the training graph, as a reference
A = np.zeros((N_ST, N_ST), np.float32)
A[src_np, dst_np] = 1.0
CN = A @ A


def evaluate(model, pos_e, neg_e):
    pairs = np.concatenate([pos_e, neg_e])
    lab = np.concatenate([np.ones(len(pos_e)), np.zeros(len(neg_e))])
    s = np.array(model(mx.array(pairs)))
    cn = CN[pairs[:, 0], pairs[:, 1]] + 1e-3 * np.random.default_rng(0).random(len(pairs))
    return auc(s, lab), auc(cn, lab)


BATCH = 256
TOTAL = 900
SESSION_1 = 450
ckpt_dir = tempfile.mkdtemp()
train_rng = np.random.default_rng(11)


def make_step(model, opt):
    lg = nn.value_and_grad(model, bce)

    def step(pairs, labels):
        loss, g = lg(model, pairs, labels)
        opt.update(model, g)
        return loss, g
    return step


def run_session(model, opt, first, last):
    step = make_step(model, opt)
    window = []
    for it in range(first, last + 1):
        pos_b = train_pos[train_rng.integers(0, len(train_pos), BATCH)]
        neg_b = sample_non_edges(BATCH, train_rng)
        pairs = mx.array(np.concatenate([pos_b, neg_b]))
        labels = mx.array(np.concatenate([np.ones(BATCH), np.zeros(BATCH)]).astype(np.float32))
        loss, g = step(pairs, labels)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            print(f"grad leaves={len(flat)} all-zero={zero}")
        window.append(loss.item())
        if it % 75 == 0:
            va, va_cn = evaluate(model, val_pos, val_neg)
            print(f"step {it:4d}  bce {np.mean(window):.4f}  val_auc {va:.3f}  (common-nbr {va_cn:.3f})")
            window = []


# ---------------- session 1 ----------------
t0 = time.time()
mx.random.seed(3)
model = PassageNet(x_np.shape[1])
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
va0, va_cn = evaluate(model, val_pos, val_neg)
print(f"untrained val_auc {va0:.3f}  common-nbr val_auc {va_cn:.3f}  random 0.500")
run_session(model, opt, 1, SESSION_1)
model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), dict(tree_flatten(opt.state)))
ref = np.array(model.embed())
print(f"checkpoint written at step {SESSION_1} -> {ckpt_dir}")
del model, opt

# ---------------- session 2: rebuild from the checkpoint ----------------
model = PassageNet(x_np.shape[1])
model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
opt = optim.AdaDelta(learning_rate=1.0, rho=0.95)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
gap = float(np.abs(np.array(model.embed()) - ref).max())
print(f"resumed at step {SESSION_1 + 1}; embedding gap after reload {gap:.2e}")
run_session(model, opt, SESSION_1 + 1, TOTAL)

te, te_cn = evaluate(model, test_pos, test_neg)
print(f"test_auc {te:.3f}  common-nbr test_auc {te_cn:.3f}  random 0.500  seconds {time.time() - t0:.1f}")
