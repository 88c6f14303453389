"""Residue-residue contact prediction from sequence on synthetic protein chains.

Each chain (length 24..40) has a hidden hydrophobic/charge pattern; the chance that
residues i and j touch follows a made-up law of their amino-acid classes and the
sequence separation. A small 1D-conv encoder embeds residues, a pair head scores
every (i, j) with |i - j| >= 4, and a masked BCE is minimised with Lion.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(338)
mx.random.seed(338)

AA = "ACDEFGHIKLMNPQRSTVWY"
HYD = np.array([1.8, 2.5, -3.5, -3.5, 2.8, -0.4, -3.2, 4.5, -3.9, 3.8,
                1.9, -3.5, -1.6, -3.5, -4.5, -0.8, -0.7, 4.2, -0.9, -1.3]) / 4.5
CHG = np.zeros(20)
CHG[AA.index("D")] = CHG[AA.index("E")] = -1.0
CHG[AA.index("K")] = CHG[AA.index("R")] = 1.0
LMAX = 40
MIN_SEP = 4


def make_chain():
    n = int(rng.integers(24, LMAX + 1))
    seq = rng.integers(0, 20, size=n)
    h, q = HYD[seq], CHG[seq]
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    sep = np.abs(i - j).astype(np.float64)
    logit = (-2.6 + 1.7 * h[:, None] * h[None, :] * (h[:, None] > 0) * (h[None, :] > 0)
             - 1.4 * q[:, None] * q[None, :]
             + 1.2 * np.cos(2 * np.pi * sep / 3.6) * (sep < 12)
             - 0.35 * np.log1p(sep))
    p = 1.0 / (1.0 + np.exp(-logit))
    c = (rng.random((n, n)) < p).astype(np.float32)
    c = np.triu(c, 1)
    c = c + c.T
    p = np.triu(p, 1) + np.triu(p, 1).T
    return seq, c, p


def batchify(chains):
    B = len(chains)
    tok = np.zeros((B, LMAX), np.int32)
    tgt = np.zeros((B, LMAX, LMAX), np.float32)
    prob = np.full((B, LMAX, LMAX), 0.5, np.float32)
    mask = np.zeros((B, LMAX, LMAX), np.float32)
    lens = np.zeros(B, np.int32)
    for b, (seq, c, p) in enumerate(chains):
        n = len(seq)
        tok[b, :n] = seq
        tgt[b, :n, :n] = c
        prob[b, :n, :n] = p
        ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        mask[b, :n, :n] = (jj - ii >= MIN_SEP)
        lens[b] = n
    return tok, tgt, prob, mask, lens


train = [make_chain() for _ in range(384)]
val = [make_chain() for _ in range(64)]
Vtok, Vtgt, Vprob, Vmask, Vlen = batchify(val)


class ContactNet(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.emb = nn.Embedding(20, d)
        self.conv1 = nn.Conv1d(d, d, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(d, d, kernel_size=5, padding=2)
        self.sep_emb = nn.Embedding(LMAX, 8)
        self.pair1 = nn.Linear(2 * d + 8, 32)
        self.pair2 = nn.Linear(32, 1)

    def __call__(self, tok):
        x = self.emb(tok)
        x = x + nn.gelu(self.conv1(x))
        x = x + nn.gelu(self.conv2(x))
        prod = x[:, :, None, :] * x[:, None, :, :]
        diff = mx.abs(x[:, :, None, :] - x[:, None, :, :])
        idx = mx.arange(LMAX)
        sep = mx.abs(idx[:, None] - idx[None, :])
        s = mx.broadcast_to(self.sep_emb(sep)[None], (tok.shape[0], LMAX, LMAX, 8))
        z = mx.concatenate([prod, diff, s], axis=-1)
        return self.pair2(nn.gelu(self.pair1(z))).squeeze(-1)


def masked_bce(logits, tgt, mask):
    l = nn.losses.binary_cross_entropy(logits, tgt, with_logits=True, reduction="none")
    return (l * mask).sum() / mask.sum()


def loss_fn(model, tok, tgt, mask):
    return masked_bce(model(tok), tgt, mask)


def top_l5_precision(score, tgt, mask, lens, long_range=False):
    hits, total = 0, 0
    for b in range(score.shape[0]):
        n = int(lens[b])
        m = mask[b, :n, :n].copy()
        if long_range:
            ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            m = m * (jj - ii >= 12)
        s = np.where(m > 0, score[b, :n, :n], -np.inf).ravel()
        k = max(1, n // 5)
        top = np.argsort(-s)[:k]
        hits += tgt[b, :n, :n].ravel()[top].sum()
        total += k
    return 100.0 * hits / total


def separation_baseline(lens):
    # score that only knows the sequence separation (its average contact rate in train)
    rate = np.zeros(LMAX)
    cnt = np.zeros(LMAX)
    for seq, c, _ in train:
        n = len(seq)
        for s in range(MIN_SEP, n):
            d = np.diagonal(c, offset=s)
            rate[s] += d.sum()
            cnt[s] += len(d)
    rate = rate / np.maximum(cnt, 1)
    idx = np.arange(LMAX)
    sc = rate[np.abs(idx[:, None] - idx[None, :])]
    return np.broadcast_to(sc, (len(lens), LMAX, LMAX)) + 1e-6 * rng.random((len(lens), LMAX, LMAX))


def oracle_bce():
    p = np.clip(Vprob, 1e-6, 1 - 1e-6)
    l = -(Vtgt * np.log(p) + (1 - Vtgt) * np.log(1 - p))
    return float((l * Vmask).sum() / Vmask.sum())


model = ContactNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

STEPS, BATCH, WARM = 320, 8, 40
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 5e-5)],
    [WARM])
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

base_sc = separation_baseline(Vlen)
base_p = top_l5_precision(base_sc, Vtgt, Vmask, Vlen)
base_lr = top_l5_precision(base_sc, Vtgt, Vmask, Vlen, long_range=True)
floor = oracle_bce()

print("# contact map fit, chains train=%d val=%d, params=%d, min_sep=%d" % (len(train), len(val), n_params, MIN_SEP))
print("# reference: oracle_bce=%.4f  sep_only_topL5=%.1f%%  sep_only_longrange_topL5=%.1f%%" % (floor, base_p, base_lr))
print("step,lr,train_bce_win,val_bce,oracle_bce,topL5_pct,longrange_topL5_pct,grad_norm,sec")

t0 = time.time()
win = []
order = rng.permutation(len(train))
cur = 0
for step in range(1, STEPS + 1):
    if cur + BATCH > len(order):
        order = rng.permutation(len(train))
        cur = 0
    bt = [train[k] for k in order[cur:cur + BATCH]]
    cur += BATCH
    tok, tgt, _, mask, _ = batchify(bt)
    lr_now = float(sched(opt.step))
    loss, grads = vg(model, mx.array(tok), mx.array(tgt), mx.array(mask))
    grads, gnorm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, gnorm)
    win.append(loss.item())
    if step == 1 or step % 40 == 0:
        logits = model(mx.array(Vtok))
        vb = masked_bce(logits, mx.array(Vtgt), mx.array(Vmask)).item()
        sc = np.array(logits)
        p5 = top_l5_precision(sc, Vtgt, Vmask, Vlen)
        p5l = top_l5_precision(sc, Vtgt, Vmask, Vlen, long_range=True)
        print("%d,%.2e,%.4f,%.4f,%.4f,%.1f,%.1f,%.3f,%.1f" % (
            step, lr_now, float(np.mean(win)), vb, floor, p5, p5l, gnorm.item(), time.time() - t0))
        win = []

print("# done in %.1fs" % (time.time() - t0))
