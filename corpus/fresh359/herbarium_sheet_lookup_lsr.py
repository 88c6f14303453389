"""Herbarium sheet lookup: learned sparse term weights for label search.

Sheets (documents) are written with catalogue terms; curators type queries that
often use a colloquial synonym of a catalogue term. A small transformer reads a
sheet and emits a vocabulary-sized, log-saturated term-weight vector (max-pooled
over real tokens). Queries are encoded without a network: each query term gets
one learned, non-negative weight. Training: in-batch softmax over sheets plus a
FLOPS penalty on sheet vectors whose weight ramps up from zero.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
N_CAT = 180          # catalogue terms 0..179
N_SYN = 180          # colloquial synonyms 180..359 (term t <-> t + 180)
PAD = 360
V = 361
N_SHEETS = 700
SHEET_LEN = 20
Q_LEN = 4
STEPS = 180
BATCH = 32
PEAK_LR = 2e-3
WARMUP = 24
LAMBDA_MAX = 1.2e-2
RAMP_STEPS = 90
EVAL_EVERY = 45

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# ---- synthetic sheets: 30 families x 6 family terms, 4 sheet-specific terms
n_fam = 30
fam_terms = rng.permutation(N_CAT)[: n_fam * 6].reshape(n_fam, 6)
common = np.arange(N_CAT)  # any catalogue term may appear as filler
sheets = np.full((N_SHEETS, SHEET_LEN), PAD, dtype=np.int32)
sheet_len = np.zeros(N_SHEETS, dtype=np.int32)
sheet_fam = rng.integers(0, n_fam, N_SHEETS)
specific = np.zeros((N_SHEETS, 4), dtype=np.int32)
for i in range(N_SHEETS):
    L = int(rng.integers(12, SHEET_LEN + 1))
    spec = rng.choice(N_CAT, 4, replace=False)
    specific[i] = spec
    fam = rng.choice(fam_terms[sheet_fam[i]], 4, replace=False)
    filler = rng.choice(common, L - 8)
    toks = np.concatenate([spec, fam, filler])
    rng.shuffle(toks)
    sheets[i, :L] = toks
    sheet_len[i] = L
sheet_mask = (sheets != PAD).astype(np.float32)


def make_queries(n, syn_p):
    q = np.zeros((n, Q_LEN), dtype=np.int32)
    tgt = rng.integers(0, N_SHEETS, n)
    for k, i in enumerate(tgt):
        terms = np.concatenate([rng.choice(specific[i], 3, replace=False),
                                rng.choice(fam_terms[sheet_fam[i]], 1)])
        use_syn = rng.random(Q_LEN) < syn_p
        q[k] = np.where(use_syn, terms + N_CAT, terms)
    return q, tgt


train_q, train_t = make_queries(6000, 0.55)
test_q, test_t = make_queries(400, 0.55)

# ---- lexical baseline: idf-weighted literal overlap
df = np.zeros(V)
for i in range(N_SHEETS):
    df[np.unique(sheets[i, : sheet_len[i]])] += 1
idf = np.log((N_SHEETS + 1) / (df + 1))
tf = np.zeros((N_SHEETS, V))
for i in range(N_SHEETS):
    np.add.at(tf[i], sheets[i, : sheet_len[i]], 1.0)
lex_doc = tf * idf


def rank_metrics(scores, tgt):
    # scores (nq, N_SHEETS); ties count against the target
    s_t = scores[np.arange(len(tgt)), tgt][:, None]
    rank = (scores >= s_t).sum(1)
    mrr = float(np.mean(np.where(rank <= 10, 1.0 / rank, 0.0)))
    r10 = float(np.mean(rank <= 10))
    return mrr, r10


q_onehot_test = np.zeros((len(test_q), V))
for k in range(len(test_q)):
    np.add.at(q_onehot_test[k], test_q[k], 1.0)
lex_mrr, lex_r10 = rank_metrics(q_onehot_test @ lex_doc.T, test_t)
rand_mrr = float(np.mean([1.0 / r for r in range(1, 11)]) * 10 / N_SHEETS)


# ---- model
class SheetEncoder(nn.Module):
    def __init__(self, dim=48, heads=4, layers=1):
        super().__init__()
        self.tok = nn.Embedding(V, dim)
        self.pos = nn.Embedding(SHEET_LEN, dim)
        self.enc = nn.TransformerEncoder(layers, dim, heads, mlp_dims=96)
        self.norm = nn.LayerNorm(dim)
        self.out_bias = mx.zeros((V,))

    def __call__(self, toks, mask):
        x = self.tok(toks) + self.pos(mx.arange(toks.shape[1]))
        attn = mx.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(x.dtype)
        h = self.norm(self.enc(x, attn))
        logits = h @ self.tok.weight.T + self.out_bias      # tied output head
        w = mx.log1p(nn.relu(logits)) * mask[:, :, None]
        return w.max(axis=1)                                  # (B, V)


class QueryWeights(nn.Module):
    def __init__(self):
        super().__init__()
        self.raw = mx.zeros((V,))

    def __call__(self, q):
        onehot = (q[:, :, None] == mx.arange(V)).astype(mx.float32)  # (B, Q, V)
        return onehot.sum(axis=1) * nn.softplus(self.raw)


class Retriever(nn.Module):
    def __init__(self):
        super().__init__()
        self.sheet = SheetEncoder()
        self.query = QueryWeights()


model = Retriever()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))

schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
     optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)], [WARMUP])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

sheets_mx = mx.array(sheets)
mask_mx = mx.array(sheet_mask)


def loss_fn(m, q, pos_idx, neg_idx, lam):
    d_idx = mx.concatenate([pos_idx, neg_idx])
    d = m.sheet(sheets_mx[d_idx], mask_mx[d_idx])            # (2B, V)
    qv = m.query(q)                                          # (B, V)
    scores = qv @ d.T                                        # (B, 2B)
    ce = nn.losses.cross_entropy(scores, mx.arange(q.shape[0]), reduction="mean")
    flops = mx.sum(mx.mean(d, axis=0) ** 2)
    return ce + lam * flops, (ce, flops)


grad_fn = nn.value_and_grad(model, loss_fn)


def lam_at(step):
    return LAMBDA_MAX * min(1.0, step / RAMP_STEPS) ** 2


def evaluate():
    d = []
    for s in range(0, N_SHEETS, 175):
        d.append(model.sheet(sheets_mx[s:s + 175], mask_mx[s:s + 175]))
    d = mx.concatenate(d)
    qv = model.query(mx.array(test_q))
    scores = np.array(qv @ d.T)
    mrr, r10 = rank_metrics(scores, test_t)
    nnz_d = float(np.mean((np.array(d) > 0).sum(1)))
    return mrr, r10, nnz_d


def log(**kw):
    print(json.dumps(kw), flush=True)


log(event="start", params=int(n_params), sheets=N_SHEETS, steps=STEPS,
    warmup_from=0.0, lexical_mrr10=round(lex_mrr, 4), lexical_r10=round(lex_r10, 4),
    random_mrr10=round(rand_mrr, 5))
mrr0, r100, nnz0 = evaluate()
log(event="eval", step=0, mrr10=round(mrr0, 4), r10=round(r100, 4), sheet_terms=round(nnz0, 1))

t0 = time.time()
order = rng.permutation(len(train_q))
ptr = 0
ce_hist, fl_hist = [], []
for step in range(STEPS):
    if ptr + BATCH > len(order):
        order = rng.permutation(len(train_q))
        ptr = 0
    idx = order[ptr:ptr + BATCH]
    ptr += BATCH
    q = mx.array(train_q[idx])
    pos = mx.array(train_t[idx])
    neg = mx.array(rng.integers(0, N_SHEETS, BATCH))
    lam = lam_at(step)
    (loss, (ce, fl)), grads = grad_fn(model, q, pos, neg, lam)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ce_hist.append(ce.item())
    fl_hist.append(fl.item())
    if (step + 1) % EVAL_EVERY == 0:
        mrr, r10, nnz = evaluate()
        log(event="eval", step=step + 1, lr=float(f"{opt.learning_rate.item():.6g}"),
            lam=float(f"{lam:.3g}"), ce=round(float(np.mean(ce_hist[-EVAL_EVERY:])), 4),
            flops=round(float(np.mean(fl_hist[-EVAL_EVERY:])), 3),
            total=round(float(np.mean(ce_hist[-EVAL_EVERY:])) + lam * float(np.mean(fl_hist[-EVAL_EVERY:])), 4),
            mrr10=round(mrr, 4), r10=round(r10, 4), lexical_mrr10=round(lex_mrr, 4),
            sheet_terms=round(nnz, 1), secs=round(time.time() - t0, 1))

mrr, r10, nnz = evaluate()
log(event="done", mrr10=round(mrr, 4), r10=round(r10, 4), lexical_mrr10=round(lex_mrr, 4),
    gain_over_lexical=round(mrr - lex_mrr, 4), sheet_terms=round(nnz, 1),
    secs=round(time.time() - t0, 1))
