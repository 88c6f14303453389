"""Wharfinger's tally book: turn spelled-out boat counts
("four hundred twelve thousand nine hundred six") into digits ("412906").

Small encoder-decoder transformer, padded source and target, batches built
from a token budget (batch size changes with the length bucket).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(318)
mx.random.seed(318)

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
        "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def words_below_1000(n):
    out = []
    if n >= 100:
        out += [ONES[n // 100], "hundred"]
        n %= 100
        if n == 0:
            return out
    if n >= 20:
        out.append(TENS[n // 10])
        if n % 10:
            out.append(ONES[n % 10])
    elif n > 0 or not out:
        out.append(ONES[n])
    return out


def spell(n):
    if n < 1000:
        return words_below_1000(n)
    hi, lo = divmod(n, 1000)
    out = words_below_1000(hi) + ["thousand"]
    if lo:
        out += words_below_1000(lo)
    return out


SRC_WORDS = ["<pad>"] + ONES + TENS[2:] + ["hundred", "thousand"]
SRC_ID = {w: i for i, w in enumerate(SRC_WORDS)}
PAD, BOS, EOS = 0, 1, 2
TGT_VOCAB = 3 + 10  # pad, bos, eos, digits


def encode(n):
    src = [SRC_ID[w] for w in spell(n)]
    tgt = [3 + int(c) for c in str(n)]
    return src, tgt


# numbers drawn log-uniformly so short and long spellings both appear
def draw(k):
    mags = rng.integers(0, 6, size=k)
    vals = [int(rng.integers(10 ** m if m else 0, 10 ** (m + 1))) for m in mags]
    return vals


pool = sorted(set(draw(5200)))
rng.shuffle(pool)
val_nums, train_nums = pool[:300], pool[300:]
train = [encode(n) for n in train_nums]
val = [encode(n) for n in val_nums]

TOKEN_BUDGET = 360  # source tokens per batch, padding included


def make_batches(data, shuffle):
    if shuffle:
        # sort by length only inside shuffled chunks, so lengths still mix a little
        perm = rng.permutation(len(data))
        order = np.concatenate([c[np.argsort([len(data[i][0]) for i in c], kind="stable")]
                                for c in np.array_split(perm, max(1, len(data) // 160))])
    else:
        order = np.argsort([len(s) for s, _ in data], kind="stable")
    batches, cur, cur_max = [], [], 0
    for i in order:
        L = len(data[i][0])
        if cur and max(cur_max, L) * (len(cur) + 1) > TOKEN_BUDGET:
            batches.append(cur)
            cur, cur_max = [], 0
        cur.append(int(i))
        cur_max = max(cur_max, L)
    if cur:
        batches.append(cur)
    if shuffle:
        rng.shuffle(batches)
    return batches


def collate(data, idx):
    srcs = [data[i][0] for i in idx]
    tgts = [data[i][1] for i in idx]
    S = max(len(s) for s in srcs)
    T = max(len(t) for t in tgts) + 1
    src = np.full((len(idx), S), PAD, np.int32)
    tin = np.full((len(idx), T), PAD, np.int32)
    tout = np.full((len(idx), T), PAD, np.int32)
    for r, (s, t) in enumerate(zip(srcs, tgts)):
        src[r, :len(s)] = s
        tin[r, 0] = BOS
        tin[r, 1:len(t) + 1] = t
        tout[r, :len(t)] = t
        tout[r, len(t)] = EOS
    return mx.array(src), mx.array(tin), mx.array(tout)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.o = nn.Linear(d, d)

    def __call__(self, x, ctx, keep):
        B, Lq, D = x.shape
        Lk = ctx.shape[1]
        hd = D // self.h
        q = self.q(x).reshape(B, Lq, self.h, hd).transpose(0, 2, 1, 3)
        k, v = mx.split(self.kv(ctx), 2, axis=-1)
        k = k.reshape(B, Lk, self.h, hd).transpose(0, 2, 1, 3)
        v = v.reshape(B, Lk, self.h, hd).transpose(0, 2, 1, 3)
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=hd ** -0.5, mask=keep)
        return self.o(y.transpose(0, 2, 1, 3).reshape(B, Lq, D))


class EncLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.att = Attention(d, heads)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, keep):
        h = self.n1(x)
        x = x + self.att(h, h, keep)
        return x + self.ff(self.n2(x))


class DecLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.n1, self.n2, self.n3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.self_att = Attention(d, heads)
        self.cross = Attention(d, heads)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, y, mem, self_keep, cross_keep):
        h = self.n1(y)
        y = y + self.self_att(h, h, self_keep)
        y = y + self.cross(self.n2(y), mem, cross_keep)
        return y + self.ff(self.n3(y))


class Transcriber(nn.Module):
    def __init__(self, d=48, heads=4, max_len=16):
        super().__init__()
        self.src_emb = nn.Embedding(len(SRC_WORDS), d)
        self.tgt_emb = nn.Embedding(TGT_VOCAB, d)
        self.src_pos = nn.Embedding(max_len, d)
        self.tgt_pos = nn.Embedding(max_len, d)
        self.enc = [EncLayer(d, heads), EncLayer(d, heads)]
        self.dec = [DecLayer(d, heads), DecLayer(d, heads)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, TGT_VOCAB)

    def encode(self, src):
        S = src.shape[1]
        src_keep = (src != PAD)[:, None, None, :]
        x = self.src_emb(src) + self.src_pos(mx.arange(S))
        for layer in self.enc:
            x = layer(x, src_keep)
        return x, src_keep

    def decode(self, tin, mem, src_keep):
        T = tin.shape[1]
        causal = mx.arange(T)[:, None] >= mx.arange(T)[None, :]
        self_keep = causal[None, None] & (tin != PAD)[:, None, None, :]
        self_keep = self_keep | (mx.arange(T)[None, None, None, :] == 0)
        y = self.tgt_emb(tin) + self.tgt_pos(mx.arange(T))
        for layer in self.dec:
            y = layer(y, mem, self_keep, src_keep)
        return self.head(self.norm(y))

    def __call__(self, src, tin):
        mem, src_keep = self.encode(src)
        return self.decode(tin, mem, src_keep)


def loss_fn(model, src, tin, tout):
    logits = model(src, tin)
    keep = (tout != PAD).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, tout, reduction="none")
    return (ce * keep).sum() / keep.sum()


def greedy(model, src, steps=8):
    mem, src_keep = model.encode(src)
    B = src.shape[0]
    seq = mx.full((B, 1), BOS, dtype=mx.int32)
    for _ in range(steps):
        nxt = mx.argmax(model.decode(seq, mem, src_keep)[:, -1], axis=-1).astype(mx.int32)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return np.array(seq[:, 1:])


def strip(row):
    out = []
    for t in row:
        if t == EOS:
            break
        out.append(int(t))
    return out


val_batches = make_batches(val, shuffle=False)


def evaluate(model):
    tot_ce, tot_tok, correct_tok, exact = 0.0, 0, 0, 0
    for idx in val_batches:
        src, tin, tout = collate(val, idx)
        logits = model(src, tin)
        keep = tout != PAD
        ce = nn.losses.cross_entropy(logits, tout, reduction="none")
        tot_ce += float((ce * keep).sum())
        n = int(keep.sum())
        tot_tok += n
        correct_tok += int(((mx.argmax(logits, -1) == tout) & keep).sum())
        pred = greedy(model, src)
        for r, i in enumerate(idx):
            exact += strip(pred[r]) == val[i][1]
    return tot_ce / tot_tok, 100.0 * correct_tok / tot_tok, 100.0 * exact / len(val)


# reference: per-token CE of a model that only knows the target-token frequencies
counts = np.bincount(np.concatenate([t + [EOS] for _, t in train]), minlength=TGT_VOCAB)[2:]
freq = counts / counts.sum()
unigram_ce = float(-(freq * np.log(freq)).sum())

model = Transcriber()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))

EPOCHS = 8
steps_per_epoch = len(make_batches(train, shuffle=True))
total = EPOCHS * steps_per_epoch
warm = 100
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 5e-5)],
    [warm])
opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"# {len(train)} train / {len(val)} held-out numbers, params {n_params}, "
      f"token budget {TOKEN_BUDGET}, ~{steps_per_epoch} batches per epoch")
print(f"# unigram reference CE {unigram_ce:.3f} nats/token")
print("step\tepoch\tlr\tbatch\tpad%\ttrain_ce\tval_ce\tval_tok%\tval_exact%\tsecs")

t0 = time.time()
step, run_ce, run_n = 0, 0.0, 0
for epoch in range(1, EPOCHS + 1):
    for idx in make_batches(train, shuffle=True):
        src, tin, tout = collate(train, idx)
        lr_now = float(schedule(opt.step))
        loss, grads = step_fn(model, src, tin, tout)
        if step == 0:
            flat = nn.utils.tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            print(f"# first-step gradient leaves: {len(flat)}, all-zero: {len(zero)} (lr at this step {lr_now:.1e})")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        run_ce += float(loss)
        run_n += 1
        if step % 100 == 0 or step == total:
            pad_share = 100.0 * float((src == PAD).sum()) / src.size
            vce, vtok, vex = evaluate(model)
            print(f"{step}\t{epoch}\t{lr_now:.2e}\t{len(idx)}\t{pad_share:.1f}\t"
                  f"{run_ce / run_n:.4f}\t{vce:.4f}\t{vtok:.1f}\t{vex:.1f}\t{time.time() - t0:.1f}")
            run_ce, run_n = 0.0, 0

vce, vtok, vex = evaluate(model)
print(f"# done: held-out CE {vce:.4f} nats/token (unigram reference {unigram_ce:.3f}), "
      f"exact transcriptions {vex:.1f}%")
src, _, _ = collate(val, val_batches[-1][:3])
pred = greedy(model, src)
for r, i in enumerate(val_batches[-1][:3]):
    print("#  " + " ".join(spell(val_nums[i])) + " -> " + "".join(str(t - 3) for t in strip(pred[r])))
