# Pretraining a tiny causal LM from scratch on packed hive-inspection ledgers.
# Whole documents are packed into rows of equal length; attention is restricted to the
# current document and positions restart at every document header.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

EOS, N_HIVES, N_BODY = 0, 6, 24
HDR0, BODY0 = 1, 1 + N_HIVES
PAD = BODY0 + N_BODY
V = PAD + 1
ROW = 65          # 64 inputs + 1 shifted target
MIN_L, MAX_L = 12, 40

rng = np.random.default_rng(7)
trans = np.zeros((N_HIVES, N_BODY, N_BODY))
for h in range(N_HIVES):
    for a in range(N_BODY):
        succ = rng.choice(N_BODY, size=3, replace=False)
        trans[h, a, succ] = rng.dirichlet([2.0, 1.0, 0.6])
first = np.zeros((N_HIVES, N_BODY))
for h in range(N_HIVES):
    first[h, rng.choice(N_BODY, size=4, replace=False)] = 0.25


def make_doc(r):
    """One ledger: header, body tokens, EOS. Returns tokens and true -log p of each token after the header."""
    h = r.integers(N_HIVES)
    toks, nll = [HDR0 + h], []
    L = r.integers(MIN_L, MAX_L + 1)
    prev = None
    for k in range(L + 1):
        hazard = 0.0 if k < MIN_L else 1.0 / (MAX_L - k + 1)
        if k == L:
            toks.append(EOS)
            nll.append(-math.log(hazard))
            break
        p = first[h] if prev is None else trans[h, prev]
        b = r.choice(N_BODY, p=p)
        toks.append(BODY0 + b)
        nll.append(-math.log((1.0 - hazard) * p[b]))
        prev = b
    return toks, nll


def pack(n_rows, seed):
    r = np.random.default_rng(seed)
    rows = np.full((n_rows, ROW), PAD, dtype=np.int32)
    oracle = np.zeros((n_rows, ROW - 1))
    for i in range(n_rows):
        j = 0
        while True:
            toks, nll = make_doc(r)
            if j + len(toks) > ROW:
                break
            rows[i, j:j + len(toks)] = toks
            # target at input position j+t-1 is toks[t]; the header itself is the start of a row or follows EOS
            if j > 0:
                oracle[i, j - 1] = math.log(N_HIVES)
            oracle[i, j:j + len(toks) - 1] = nll
            j += len(toks)
    return rows, oracle


def segments(x):
    """doc index and position-within-doc for every input position (EOS closes its doc)."""
    is_eos = (x == EOS).astype(np.int32)
    seg = np.cumsum(is_eos, axis=1) - is_eos
    pos = np.zeros_like(x)
    for i in range(x.shape[0]):
        start = 0
        for t in range(x.shape[1]):
            if t > 0 and seg[i, t] != seg[i, t - 1]:
                start = t
            pos[i, t] = t - start
    return seg, pos


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, bias):
        B, T, D = x.shape
        hd = D // self.heads
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, T, self.heads, hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        att = mx.fast.scaled_dot_product_attention(q, k, v, scale=hd ** -0.5, mask=bias)
        x = x + self.proj(att.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.mlp(self.ln2(x))


class LedgerLM(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(ROW, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, V, bias=False)

    def __call__(self, x, seg, pos):
        T = x.shape[1]
        causal = mx.tril(mx.ones((T, T), dtype=mx.bool_))
        same = seg[:, :, None] == seg[:, None, :]
        bias = mx.where(causal[None] & same, 0.0, -1e9)[:, None].astype(mx.float32)
        h = self.tok(x) + self.pos(pos)
        for b in self.blocks:
            h = b(h, bias)
        return self.head(self.ln(h))


def token_loss(model, x, y, seg, pos):
    logits = model(x, seg, pos)
    ce = nn.losses.cross_entropy(logits, y, reduction="none")
    keep = (y != PAD).astype(mx.float32)
    return (ce * keep).sum() / keep.sum()


train_rows, _ = pack(1500, seed=1)
val_rows, val_oracle = pack(150, seed=2)


def to_arrays(rows):
    x, y = rows[:, :-1], rows[:, 1:]
    seg, pos = segments(x)
    return mx.array(x), mx.array(y), mx.array(seg), mx.array(pos)


tx, ty, tseg, tpos = to_arrays(train_rows)
vx, vy, vseg, vpos = to_arrays(val_rows)
real = val_rows[:, 1:] != PAD
oracle_floor = float(val_oracle[real].mean())
counts = np.bincount(train_rows[:, 1:][train_rows[:, 1:] != PAD], minlength=V).astype(float)
unigram = counts / counts.sum()
unigram_nll = float(-np.log(unigram[val_rows[:, 1:][real]] + 1e-12).mean())
print(f"vocab {V}  train rows {len(train_rows)}  val tokens {int(real.sum())}  "
      f"fill {(train_rows != PAD).mean():.3f}")
print(f"baselines: uniform {math.log(V):.3f}  unigram {unigram_nll:.3f}  oracle floor {oracle_floor:.3f} nats/token")

mx.random.seed(0)
model = LedgerLM()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"params {n_params}")

STEPS, WARM, BS = 200, 30, 16
peak = 3e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, WARM), optim.cosine_decay(peak, STEPS - WARM, 1e-4)], [WARM])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.05)
loss_and_grad = nn.value_and_grad(model, token_loss)


def step(x, y, seg, pos):
    loss, grads = loss_and_grad(model, x, y, seg, pos)
    grads, norm = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    return loss, norm


def evaluate():
    model.eval()
    l = token_loss(model, vx, vy, vseg, vpos).item()
    model.train()
    return l


t0 = time.perf_counter()
order = np.random.default_rng(3)
for it in range(STEPS + 1):
    idx = mx.array(order.integers(0, len(train_rows), BS))
    x, y, seg, pos = tx[idx], ty[idx], tseg[idx], tpos[idx]
    lr_now = float(schedule(mx.array(it)))
    loss, gnorm = step(x, y, seg, pos)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 40 == 0:
        vl = evaluate()
        print(f"step {it:4d}  lr {lr_now:.2e}  train {loss.item():.3f}  val {vl:.3f}  "
              f"ppl {math.exp(vl):6.2f}  gap-to-floor {vl - oracle_floor:+.3f}  |g| {gnorm.item():.2f}")

vl = evaluate()
print(f"final val {vl:.3f} nats/token  ppl {math.exp(vl):.2f}  "
      f"unigram {unigram_nll:.3f}  oracle {oracle_floor:.3f}  time {time.perf_counter() - t0:.1f}s")
