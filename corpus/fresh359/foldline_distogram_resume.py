"""Distogram prediction for synthetic protein chains.

A tiny sequence encoder (two self-attention blocks) feeds a pair head that
predicts, for every residue pair (i, j), a distribution over 12 Calpha-Calpha
distance bins. The pair logits are symmetrised, the loss is a cross-entropy
masked to real, resolved residues. Training runs in two sessions: the first
session writes a checkpoint (weights + optimizer state), the second session
builds a fresh model and optimizer, loads the checkpoint and carries on.
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

SEED = 7
VOCAB = 20
PAD = VOCAB
LMIN, LMAX = 18, 28
BIN_EDGES = np.array([4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 14.0, 16.0, 19.0, 23.0])
NBINS = len(BIN_EDGES) + 1
CONTACT_BIN = 5  # bins 0..4 are < 8 A
MIN_SEP = 6

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# per residue-type backbone geometry (virtual Calpha bond angle / torsion, degrees)
TYPE_THETA = np.empty(VOCAB)
TYPE_PHI = np.empty(VOCAB)
TYPE_THETA[:7], TYPE_PHI[:7] = 91.0, 50.0          # helix formers
TYPE_THETA[7:13], TYPE_PHI[7:13] = 120.0, -170.0   # strand formers
TYPE_THETA[13:], TYPE_PHI[13:] = rng.uniform(85, 115, 7), rng.uniform(-120, 120, 7)


def place(a, b, c, r, theta, phi):
    bc = c - b
    bc /= np.linalg.norm(bc)
    n = np.cross(b - a, bc)
    n /= np.linalg.norm(n)
    m = np.cross(n, bc)
    d = (-r * math.cos(theta)) * bc + (r * math.sin(theta) * math.cos(phi)) * m \
        + (r * math.sin(theta) * math.sin(phi)) * n
    return c + d


def make_chain():
    L = int(rng.integers(LMIN, LMAX + 1))
    # segments so that helices and strands come in runs
    seq = []
    while len(seq) < L:
        kind = rng.choice(3, p=[0.4, 0.3, 0.3])
        run = int(rng.integers(3, 9))
        lo, hi = [(0, 7), (7, 13), (13, 20)][kind]
        seq += list(rng.integers(lo, hi, run))
    seq = np.array(seq[:L])
    xyz = np.zeros((L, 3))
    xyz[1] = [3.8, 0, 0]
    xyz[2] = [3.8 + 3.8 * math.cos(math.radians(70)), 3.8 * math.sin(math.radians(70)), 0]
    for i in range(3, L):
        t = math.radians(TYPE_THETA[seq[i - 1]] + rng.normal(0, 4))
        p = math.radians(TYPE_PHI[seq[i - 1]] + rng.normal(0, 8))
        xyz[i] = place(xyz[i - 3], xyz[i - 2], xyz[i - 1], 3.8, t, p)
    dist = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1)
    resolved = rng.random(L) > 0.08
    return seq, dist, resolved


def make_set(n):
    tok = np.full((n, LMAX), PAD, np.int32)
    bins = np.zeros((n, LMAX, LMAX), np.int32)
    pmask = np.zeros((n, LMAX, LMAX), np.float32)
    dist = np.zeros((n, LMAX, LMAX), np.float32)
    for k in range(n):
        seq, d, res = make_chain()
        L = len(seq)
        tok[k, :L] = seq
        bins[k, :L, :L] = np.digitize(d, BIN_EDGES)
        dist[k, :L, :L] = d
        sep = np.abs(np.arange(L)[:, None] - np.arange(L)[None])
        pmask[k, :L, :L] = (res[:, None] & res[None]) & (sep >= 1)
    return tok, bins, pmask, dist


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.ff(self.ln2(x))


class Distogram(nn.Module):
    def __init__(self, dim=32, pair=24, heads=4, layers=2, max_rel=16):
        super().__init__()
        self.max_rel = max_rel
        self.tok = nn.Embedding(VOCAB + 1, dim)
        self.pos = nn.Embedding(LMAX, dim)
        self.blocks = [Block(dim, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(dim)
        self.left = nn.Linear(dim, pair)
        self.right = nn.Linear(dim, pair)
        self.rel = nn.Embedding(2 * max_rel + 1, pair)
        self.head = nn.Sequential(nn.Linear(pair, pair), nn.ReLU(), nn.Linear(pair, NBINS))

    def __call__(self, tok):
        B, L = tok.shape
        keep = tok != PAD
        att = mx.where(keep[:, None, None, :], 0.0, -1e9).astype(mx.float32)
        x = self.tok(tok) + self.pos(mx.arange(L))[None]
        for blk in self.blocks:
            x = blk(x, att)
        x = self.ln(x)
        a, b = self.left(x), self.right(x)
        idx = mx.arange(L)
        rel = mx.clip(idx[None, :] - idx[:, None], -self.max_rel, self.max_rel) + self.max_rel
        z = a[:, :, None, :] * b[:, None, :, :] + (a[:, :, None, :] - b[:, None, :, :]) + self.rel(rel)[None]
        logits = self.head(z)
        return 0.5 * (logits + logits.transpose(0, 2, 1, 3))


def loss_fn(model, tok, bins, pmask):
    logits = model(tok)
    ce = nn.losses.cross_entropy(logits, bins, reduction="none")
    return (ce * pmask).sum() / pmask.sum()


def evaluate(model, data, base_logp):
    tok, bins, pmask, dist = data
    logits = model(tok)
    ce = nn.losses.cross_entropy(logits, bins, reduction="none")
    val = ((ce * pmask).sum() / pmask.sum()).item()
    base = (-(base_logp[bins]) * pmask).sum().item() / pmask.sum().item()
    # top-L/5 medium+long range contact precision per chain
    p_contact = mx.softmax(logits, axis=-1)[..., :CONTACT_BIN].sum(-1)
    p_np, d_np, m_np, t_np = np.array(p_contact), np.array(dist), np.array(pmask), np.array(tok)
    precs, rand = [], []
    for k in range(len(t_np)):
        L = int((t_np[k] != PAD).sum())
        iu, ju = np.triu_indices(L, MIN_SEP)
        ok = m_np[k, iu, ju] > 0
        iu, ju = iu[ok], ju[ok]
        truth = d_np[k, iu, ju] < 8.0
        top = np.argsort(-p_np[k, iu, ju])[: max(1, L // 5)]
        precs.append(truth[top].mean())
        rand.append(truth.mean())
    return val, base, float(np.mean(precs)), float(np.mean(rand))


def schedule(total, warm, peak, floor):
    warmup = optim.linear_schedule(0.0, peak, warm)
    decay = optim.cosine_decay(peak, total - warm, floor)
    return optim.join_schedules([warmup, decay], [warm])


def batches(data, bs):
    tok, bins, pmask, _ = data
    n = len(tok)
    while True:
        perm = rng.permutation(n)
        for s in range(0, n - bs + 1, bs):
            ix = perm[s:s + bs]
            yield mx.array(tok[ix]), mx.array(bins[ix]), mx.array(pmask[ix])


def session(model, opt, stream, start, stop, val, base_logp, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    run = []
    for step in range(start, stop):
        tok, bins, pmask = next(stream)
        loss, grads = step_fn(model, tok, bins, pmask)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if (step + 1) % 40 == 0:
            v, b, prec, rnd = evaluate(model, val, base_logp)
            lr = opt.learning_rate.item()
            print(f"[{tag}] step {step + 1:4d}  lr {lr:.2e}  train_ce {np.mean(run):.3f}  "
                  f"val_ce {v:.3f}  (marginal {b:.3f}, gain {v - b:+.3f})  "
                  f"P@L/5 {prec:.3f} (random {rnd:.3f})")
            run = []


def main():
    t0 = time.time()
    train = make_set(640)
    val = tuple(mx.array(a) for a in make_set(64))
    freq = np.bincount(train[1][train[2] > 0], minlength=NBINS) + 1.0
    base_logp = mx.array(np.log(freq / freq.sum()).astype(np.float32))
    print(f"train chains {len(train[0])}, val chains {val[0].shape[0]}, bins {NBINS}, "
          f"pair mask share {train[2].mean():.3f}")

    total, half = 320, 160
    sched = schedule(total, warm=40, peak=3e-3, floor=5e-5)
    stream = batches(train, 12)

    model = Distogram()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    v, b, prec, rnd = evaluate(model, val, base_logp)
    print(f"[init] val_ce {v:.3f}  (marginal {b:.3f}, gain {v - b:+.3f})  P@L/5 {prec:.3f} (random {rnd:.3f})")
    session(model, opt, stream, 0, half, val, base_logp, "run-1")

    ckdir = tempfile.mkdtemp()
    wpath = os.path.join(ckdir, "weights.safetensors")
    opath = os.path.join(ckdir, "optimizer.safetensors")
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    v_saved = evaluate(model, val, base_logp)[0]
    print(f"checkpoint written at step {half} (val_ce {v_saved:.3f}); session ends")
    del model, opt

    model = Distogram()
    model.load_weights(wpath)
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    opt.state = tree_unflatten(list(mx.load(opath).items()))
    mx.eval(model.parameters(), opt.state)
    v_loaded = evaluate(model, val, base_logp)[0]
    print(f"resumed at optimizer step {opt.state['step'].item()} (val_ce {v_loaded:.3f}, "
          f"lr {opt.learning_rate.item():.2e})")
    session(model, opt, stream, half, total, val, base_logp, "run-2")

    v, b, prec, rnd = evaluate(model, val, base_logp)
    print(f"final: val_ce {v:.3f} vs marginal {b:.3f}; P@L/5 {prec:.3f} vs random {rnd:.3f}; "
          f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
