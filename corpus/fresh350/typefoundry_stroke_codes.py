"""Type foundry: learn a stroke vocabulary for glyph outlines, then a code prior.

Stage 1 fits a small VQ autoencoder to 12-number stroke descriptors (16 codes,
straight-through estimator, codebook + commitment loss) and saves it.
Stage 2 reloads the tokenizer into a fresh object, keeps it frozen, turns every
glyph (6 strokes) into a code sequence and fits a next-code prior on those
sequences.  Stage 2 is run in two sittings: prior + optimizer state are written
to disk half way, everything is rebuilt and the run resumes.
Log lines are logfmt (key=value).
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
FEAT, PROTOS, STROKES = 12, 10, 6
CODES, CDIM = 16, 4
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

protos = rng.normal(0, 1, size=(PROTOS, FEAT)).astype(np.float32)
trans = rng.dirichlet(np.full(PROTOS, 0.25), size=PROTOS)
start = rng.dirichlet(np.ones(PROTOS))


def make_glyphs(n):
    seq = np.zeros((n, STROKES), dtype=np.int64)
    seq[:, 0] = rng.choice(PROTOS, size=n, p=start)
    for t in range(1, STROKES):
        for i in range(n):
            seq[i, t] = rng.choice(PROTOS, p=trans[seq[i, t - 1]])
    weight = rng.uniform(0.85, 1.15, size=(n, STROKES, 1))
    feats = protos[seq] * weight + 0.08 * rng.standard_normal((n, STROKES, FEAT))
    return feats.astype(np.float32), seq


f_train, s_train = make_glyphs(3000)
f_val, s_val = make_glyphs(600)
strokes_train = mx.array(f_train.reshape(-1, FEAT))
strokes_val = mx.array(f_val.reshape(-1, FEAT))


def log(**kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        parts.append(f"{k}={v}")
    print(" ".join(parts))


class StrokeTokenizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(FEAT, 48), nn.SiLU(), nn.Linear(48, CDIM))
        self.codebook = nn.Embedding(CODES, CDIM)
        self.dec = nn.Sequential(nn.Linear(CDIM, 48), nn.SiLU(), nn.Linear(48, FEAT))

    def codes(self, x):
        z = self.enc(x)
        w = self.codebook.weight
        d = (mx.sum(z * z, -1, keepdims=True) - 2 * z @ w.T + mx.sum(w * w, -1)[None])
        return z, mx.argmin(mx.stop_gradient(d), axis=-1)

    def __call__(self, x):
        z, idx = self.codes(x)
        q = self.codebook(idx)
        cb = mx.mean((q - mx.stop_gradient(z)) ** 2)
        commit = mx.mean((z - mx.stop_gradient(q)) ** 2)
        zq = z + mx.stop_gradient(q - z)
        return self.dec(zq), idx, cb, commit


def vq_loss(tok, x):
    xr, _, cb, commit = tok(x)
    rec = mx.mean((xr - x) ** 2)
    return rec + cb + 0.25 * commit, (rec, cb, commit)


# ---------------- stage 1: stroke tokenizer ----------------
tok = StrokeTokenizer()
# data-dependent codebook start: encoded strokes picked at random
z0 = tok.enc(strokes_train[mx.array(rng.choice(strokes_train.shape[0], CODES, replace=False))])
tok.codebook.weight = z0
mx.eval(tok.parameters())
sched1 = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 50), optim.cosine_decay(2e-3, 750, 2e-4)], [50])
opt1 = optim.Adam(learning_rate=sched1)
vg1 = nn.value_and_grad(tok, vq_loss)
mean_mse = mx.mean((strokes_val - strokes_train.mean(0)) ** 2).item()
log(stage="tokenizer", event="start", strokes=strokes_train.shape[0], codes=CODES,
    predict_mean_val_mse=mean_mse, noise_var=0.0064)
for step in range(1, 801):
    ids = mx.array(rng.integers(0, strokes_train.shape[0], size=256))
    (loss, (rec, cb, com)), g = vg1(tok, strokes_train[ids])
    opt1.update(tok, g)
    mx.eval(tok.parameters(), opt1.state, loss)
    if step in (1, 100, 200, 400, 800):
        xr, idx, _, _ = tok(strokes_val)
        vm = mx.mean((xr - strokes_val) ** 2).item()
        used = len(set(np.array(idx).tolist()))
        log(stage="tokenizer", step=step, lr=opt1.learning_rate.item(), recon=rec.item(),
            codebook=cb.item(), commit=com.item(), val_mse=vm, codes_used=used)

ckdir = tempfile.mkdtemp()
tok_path = os.path.join(ckdir, "tokenizer.safetensors")
tok.save_weights(tok_path)
_, ref_codes_val = tok.codes(strokes_val)
ref_codes_val = np.array(ref_codes_val)
del tok, opt1, vg1

# ---------------- stage 2: code prior ----------------
tok = StrokeTokenizer()
tok.load_weights(tok_path)
tok.freeze()
_, c_val = tok.codes(strokes_val)
c_val = np.array(c_val)
log(stage="prior", event="tokenizer_reloaded", code_mismatch=int((c_val != ref_codes_val).sum()),
    trainable=len(tree_flatten(tok.trainable_parameters())))
_, c_train = tok.codes(strokes_train)
seq_train = np.array(c_train).reshape(-1, STROKES)
seq_val = c_val.reshape(-1, STROKES)
BOS = CODES


def shift(seq):
    return np.concatenate([np.full((seq.shape[0], 1), BOS), seq[:, :-1]], axis=1)


inp_train, inp_val = mx.array(shift(seq_train)), mx.array(shift(seq_val))
tgt_train, tgt_val = mx.array(seq_train), mx.array(seq_val)

# reference numbers for the prior
uni = np.bincount(seq_train.ravel(), minlength=CODES) + 1.0
uni = uni / uni.sum()
unigram_nll = float(-np.mean(np.log(uni[seq_val.ravel()])))
big = np.ones((CODES + 1, CODES))
for a, b in zip(shift(seq_train).ravel(), seq_train.ravel()):
    big[a, b] += 1
big = big / big.sum(1, keepdims=True)
bigram_nll = float(-np.mean(np.log(big[shift(seq_val).ravel(), seq_val.ravel()])))


class CodePrior(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(CODES + 1, 32)
        self.pos = nn.Embedding(STROKES, 32)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, CODES))

    def __call__(self, prev):
        h = self.emb(prev) + self.pos(mx.arange(prev.shape[1]))[None]
        return self.mlp(h)


def prior_loss(prior, prev, tgt):
    return nn.losses.cross_entropy(prior(prev), tgt, reduction="mean")


TOTAL, WARM2, HALF = 900, 60, 450


def build():
    p = CodePrior()
    s = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM2),
                              optim.cosine_decay(3e-3, TOTAL - WARM2, 1e-4)], [WARM2])
    o = optim.AdamW(learning_rate=s, weight_decay=0.01)
    return p, o


prior, opt2 = build()
mx.eval(prior.parameters())
log(stage="prior", event="start", uniform_nll=math.log(CODES), unigram_nll=unigram_nll,
    bigram_count_nll=bigram_nll)


def val_nll(p):
    return prior_loss(p, inp_val, tgt_val).item()


def run(prior, opt2, first, last):
    vg2 = nn.value_and_grad(prior, prior_loss)
    for step in range(first, last + 1):
        ids = mx.array(rng.integers(0, inp_train.shape[0], size=128))
        lr_before = opt2.learning_rate.item()
        loss, g = vg2(prior, inp_train[ids], tgt_train[ids])
        opt2.update(prior, g)
        mx.eval(prior.parameters(), opt2.state, loss)
        if step in (1, 30, 60, 150, 300, 450, 600, 750, 900):
            log(stage="prior", step=step, lr=lr_before, train_nll=loss.item(),
                val_nll=val_nll(prior), bits_per_stroke=val_nll(prior) / math.log(2))


run(prior, opt2, 1, HALF)
ck_prior = os.path.join(ckdir, "prior.safetensors")
ck_opt = os.path.join(ckdir, "prior_opt.safetensors")
prior.save_weights(ck_prior)
mx.save_safetensors(ck_opt, dict(tree_flatten(opt2.state)))
before = val_nll(prior)
del prior, opt2

prior, opt2 = build()
prior.load_weights(ck_prior)
opt2.state = tree_unflatten(list(mx.load(ck_opt).items()))
mx.eval(prior.parameters(), opt2.state)
log(stage="prior", event="resumed", optimizer_step=int(opt2.state["step"].item()),
    val_nll_drift=abs(val_nll(prior) - before))
run(prior, opt2, HALF + 1, TOTAL)
final = val_nll(prior)
log(stage="done", val_nll=final, uniform_nll=math.log(CODES), unigram_nll=unigram_nll,
    bigram_count_nll=bigram_nll)
