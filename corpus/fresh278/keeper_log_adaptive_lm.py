"""Word-level next-word model for lighthouse keepers' log lines.

Vocabulary is sorted by frequency and split into a head and two tail bands.
Input side: adaptive input embeddings (wide vectors for frequent words,
narrow vectors projected up for rare ones).  Output side: adaptive softmax
(head softmax over frequent words plus one gate per tail band, small tail
softmaxes behind the gates).  The generator is a known Markov source, so the
best reachable perplexity is printed beside the model's.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
V = 180
BANDS = [(0, 36, 32), (36, 96, 12), (96, 180, 6)]  # (start, end, dim)
CTX = 2
D = 32
HID = 96
STEPS = 900
BATCH = 128
PEAK_LR = 3e-3
WARMUP = 120
REPORT_AT = {0, 1, 40, 120, 240, 360, 840, 899}  # quiet between 360 and 840

rng = np.random.default_rng(SEED)

# --- Markov source over a Zipf-shaped vocabulary -------------------------------
zipf = 1.0 / np.arange(1, V + 1) ** 1.05
zipf /= zipf.sum()
# Each word has 4 likely successors (75% mass) and the Zipf background (25%).
trans = np.zeros((V, V))
for w in range(V):
    succ = rng.choice(V, size=4, replace=False, p=zipf)
    trans[w] = 0.25 * zipf
    trans[w, succ] += 0.75 * rng.dirichlet(np.ones(4) * 2.0)
trans /= trans.sum(1, keepdims=True)


def sample_stream(n):
    out = np.empty(n, dtype=np.int64)
    cdf = np.cumsum(trans, 1)
    w = 0
    u = rng.random(n)
    for i in range(n):
        w = min(int(np.searchsorted(cdf[w], u[i])), V - 1)
        out[i] = w
    return out


raw_train = sample_stream(60000)
raw_val = sample_stream(12000)

# Re-index by observed training frequency so the bands hold frequent -> rare.
counts = np.bincount(raw_train, minlength=V)
order = np.argsort(-counts, kind="stable")
remap = np.empty(V, dtype=np.int64)
remap[order] = np.arange(V)
train_ids = remap[raw_train]
val_ids = remap[raw_val]
trans_r = trans[order][:, order]

# exact entropy rate of the source (nats per word) under its stationary law
pi = np.ones(V) / V
for _ in range(500):
    pi = pi @ trans_r
floor_nats = float(-(pi[:, None] * trans_r * np.log(trans_r + 1e-30)).sum())
uni = np.bincount(train_ids, minlength=V) / len(train_ids)
unigram_nats = float(-(np.bincount(val_ids, minlength=V) / len(val_ids) * np.log(uni + 1e-12)).sum())


def windows(ids):
    x = np.stack([ids[i:len(ids) - CTX + i] for i in range(CTX)], 1)
    y = ids[CTX:]
    return mx.array(x.astype(np.int32)), mx.array(y.astype(np.int32))


Xtr, Ytr = windows(train_ids)
Xva, Yva = windows(val_ids)


class AdaptiveInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.tables = [nn.Embedding(e - s, d) for s, e, d in BANDS]
        self.projs = [nn.Linear(d, D, bias=False) for _, _, d in BANDS]

    def __call__(self, ids):
        out = mx.zeros(ids.shape + (D,))
        for (s, e, _), tab, proj in zip(BANDS, self.tables, self.projs):
            inside = (ids >= s) & (ids < e)
            local = mx.where(inside, ids - s, 0)
            vec = proj(tab(local))
            out = out + mx.where(inside[..., None], vec, 0.0)
        return out


class AdaptiveSoftmax(nn.Module):
    def __init__(self):
        super().__init__()
        head_n = BANDS[0][1] - BANDS[0][0]
        self.head = nn.Linear(HID, head_n + len(BANDS) - 1)
        self.tail_down = [nn.Linear(HID, d, bias=False) for _, _, d in BANDS[1:]]
        self.tail_out = [nn.Linear(d, e - s) for s, e, d in BANDS[1:]]

    def log_probs(self, h):
        head_n = BANDS[0][1] - BANDS[0][0]
        hl = self.head(h)
        hl = hl - mx.logsumexp(hl, axis=-1, keepdims=True)
        parts = [hl[:, :head_n]]
        for k, (down, out) in enumerate(zip(self.tail_down, self.tail_out)):
            tl = out(down(h))
            tl = tl - mx.logsumexp(tl, axis=-1, keepdims=True)
            parts.append(hl[:, head_n + k : head_n + k + 1] + tl)
        return mx.concatenate(parts, axis=-1)


class KeeperLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = AdaptiveInput()
        self.l1 = nn.Linear(CTX * D, HID)
        self.l2 = nn.Linear(HID, HID)
        self.out = AdaptiveSoftmax()

    def __call__(self, x):
        e = self.inp(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.l1(e))
        h = h + nn.gelu(self.l2(h))
        return self.out.log_probs(h)


def nll_vec(model, x, y):
    lp = model(x)
    return -mx.take_along_axis(lp, y[:, None], axis=1)[:, 0]


def loss_fn(model, x, y):
    return nll_vec(model, x, y).mean()


mx.random.seed(SEED)
model = KeeperLM()
mx.eval(model.parameters())

sched = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
     optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 2e-4)],
    [WARMUP],
)
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
vg = nn.value_and_grad(model, loss_fn)

head_end = BANDS[0][1]


def evaluate():
    v = nll_vec(model, Xva, Yva)
    is_head = Yva < head_end
    n_head = is_head.sum().item()
    head = (mx.where(is_head, v, 0).sum() / n_head).item()
    tail = (mx.where(is_head, 0, v).sum() / (Yva.size - n_head)).item()
    return v.mean().item(), head, tail


# normalisation check of the adaptive softmax on a few rows
lp0 = model(Xva[:8])
norm_err = mx.abs(mx.logsumexp(lp0, axis=-1)).max().item()
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
print(f"keeper-lm  vocab={V} bands={[(s, e, d) for s, e, d in BANDS]} params={n_params}")
print(f"source floor ppl {math.exp(floor_nats):7.2f}   unigram ppl {math.exp(unigram_nats):7.2f}   uniform ppl {V:7.2f}")
print(f"softmax row-sum check |logsumexp| max = {norm_err:.2e}")
hdr = " step        lr   train_ema    val_ppl  head_nll  tail_nll   secs"
print(hdr)
print("-" * len(hdr))

ema, t0 = None, time.time()
perm = np.random.default_rng(SEED + 1)
for step in range(STEPS):
    idx = mx.array(perm.integers(0, Xtr.shape[0], BATCH).astype(np.int32))
    lr_now = float(sched(opt.step).item()) if hasattr(opt, "step") else 0.0
    loss, grads = vg(model, Xtr[idx], Ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    li = loss.item()
    ema = li if ema is None else 0.95 * ema + 0.05 * li
    if step in REPORT_AT:
        vn, hn, tn = evaluate()
        print(f"{step:5d} {lr_now:9.2e} {ema:11.4f} {math.exp(vn):10.2f} {hn:9.4f} {tn:9.4f} {time.time() - t0:6.1f}")

vn, hn, tn = evaluate()
print("-" * len(hdr))
print(f"final val ppl {math.exp(vn):.2f} (floor {math.exp(floor_nats):.2f}, unigram {math.exp(unigram_nats):.2f}); "
      f"gap to floor {vn - floor_nats:+.4f} nats/word")
