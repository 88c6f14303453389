"""Lock-keeper passage log: boat code -> gate order (the code read backwards,
as the boats leave the chamber in reverse).  Stage A: plain causal LM over whole log lines.  Stage B:
instruction-style fine-tune with a PREFIX-LM mask built by the collator (the
code part is visible in both directions, the answer is causal) and loss on the
answer tokens only.  Each stage starts its own Adam with warm-up from lr 0.
"""
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 3
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

LETTERS = "ABCDEFGHJK"
PAD, BOS, SEP, EOS = 0, 1, 2, 3
OFF = 4
V = OFF + len(LETTERS)
NAMES = ["<pad>", "<bos>", "<sep>", "<eos>"] + list(LETTERS)


def make_pair(r):
    n = r.randint(3, 6)
    code = [r.randrange(10) for _ in range(n)]
    answer = code[::-1]
    return [c + OFF for c in code], [a + OFF for a in answer]


rng = random.Random(SEED)
train_pairs = [make_pair(rng) for _ in range(6000)]
seen = {tuple(p) for p, _ in train_pairs}
val_pairs = []
while len(val_pairs) < 400:
    p, a = make_pair(rng)
    if tuple(p) not in seen:
        val_pairs.append((p, a))


def collate(pairs, prefix_lm, answer_only):
    rows = [[BOS] + p + [SEP] + a + [EOS] for p, a in pairs]
    L = max(len(r) for r in rows)
    L = ((L + 7) // 8) * 8
    ids = np.zeros((len(rows), L), dtype=np.int32)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
    n = np.array([len(r) for r in rows])[:, None]
    sep = np.array([1 + len(p) for p, _ in pairs])[:, None]
    t = np.arange(L - 1)[None, :]
    first = sep if answer_only else 0  # target index t predicts row[t+1]
    tmask = ((t >= first) & (t < n - 1)).astype(np.float32)
    qi = np.arange(L)[None, :, None]
    kj = np.arange(L)[None, None, :]
    keep = kj <= qi
    if prefix_lm:
        s3 = sep[:, :, None]
        keep = keep | ((qi <= s3) & (kj <= s3))
    keep = (keep & (kj < n[:, :, None])) | (qi == kj)
    bias = np.where(keep, 0.0, -1e9).astype(np.float32)[:, None]
    return mx.array(ids), mx.array(tmask), mx.array(bias)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)

    def __call__(self, x, bias):
        B, L, D = x.shape
        h = self.ln1(x)
        q, k, v = mx.split(self.qkv(h), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        att = mx.fast.scaled_dot_product_attention(
            sh(q), sh(k), sh(v), scale=1.0 / math.sqrt(D // self.heads), mask=bias)
        x = x + self.proj(att.transpose(0, 2, 1, 3).reshape(B, L, D))
        return x + self.ff2(nn.gelu(self.ff1(self.ln2(x))))


class GateLM(nn.Module):
    def __init__(self, d=48, heads=4, layers=2, max_len=24):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(max_len, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.out = nn.Linear(d, V)

    def __call__(self, ids, bias):
        x = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        for b in self.blocks:
            x = b(x, bias)
        return self.out(self.ln(x))


def loss_fn(model, ids, tmask, bias):
    logits = model(ids[:, :-1], bias[:, :, :-1, :-1])
    ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
    return (ce * tmask).sum() / tmask.sum()


def warm_invsqrt(peak, warm):
    def f(step):
        s = step.astype(mx.float32) if isinstance(step, mx.array) else mx.array(float(step))
        return peak * mx.minimum(s / warm, mx.sqrt(warm / mx.maximum(s, 1.0)))
    return f


def greedy_exact(model, pairs, prefix_lm):
    hits, first_hits = 0, 0
    by_len = {}
    for p, a in pairs:
        by_len.setdefault(len(p), []).append((p, a))
    for n, group in by_len.items():
        prompts = mx.array([[BOS] + p + [SEP] for p, _ in group])
        out = prompts
        for _ in range(n + 1):
            L = out.shape[1]
            keep = np.tril(np.ones((L, L), dtype=bool))
            if prefix_lm:
                keep[:n + 2, :n + 2] = True
            bias = mx.array(np.where(keep, 0.0, -1e9).astype(np.float32))[None, None]
            nxt = model(out, bias)[:, -1].argmax(axis=-1)
            out = mx.concatenate([out, nxt[:, None]], axis=1)
        gen = np.array(out[:, n + 2:])
        for (p, a), g in zip(group, gen):
            want = a + [EOS]
            hits += int(list(g) == want)
            first_hits += int(g[0] == a[0])
    return 100.0 * hits / len(pairs), 100.0 * first_hits / len(pairs)


def section(name):
    print(f"\n[{name}]", flush=True)


def kv(**items):
    parts = []
    for k, v in items.items():
        parts.append(f"{k} = {v:.4f}" if isinstance(v, float) else f"{k} = {v}")
    print(" ; ".join(parts), flush=True)


model = GateLM()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

section("run")
mean_code = float(np.mean([len(p) for p, _ in train_pairs]))
copy_base = 100.0 * float(np.mean([p[::-1] == p for p, _ in val_pairs]))
# stage A cannot go below this: the code letters and the code length are random
floor_a = (4.5 * math.log(10) + math.log(4)) / (2 * 4.5 + 2)
kv(params=n_params, train_lines=len(train_pairs), val_lines=len(val_pairs), mean_code_len=mean_code,
   uniform_letter_nats=math.log(10), stage_a_floor_nats=floor_a, stage_b_floor_nats=0.0,
   copy_code_exact_pct=copy_base, chance_first_gate_pct=10.0)

grad_fn = nn.value_and_grad(model, loss_fn)
BS = 64
r_batch = random.Random(5)
STAGES = [
    ("stage A  causal LM, every token", 120, False, False, 3e-3, 40),
    ("stage B  prefix-LM, answer tokens only", 150, True, True, 2e-3, 30),
]
for title, steps, prefix_lm, answer_only, peak, every in STAGES:
    section(title)
    sched = warm_invsqrt(peak, 30.0)
    opt = optim.Adam(learning_rate=sched)
    val_ids, val_tm, val_bias = collate(val_pairs, prefix_lm, answer_only)
    t0 = time.time()
    run = mx.array(0.0)
    for step in range(1, steps + 1):
        batch = r_batch.sample(train_pairs, BS)
        ids, tm, bias = collate(batch, prefix_lm, answer_only)
        lr_used = float(sched(mx.array(step - 1)).item())
        loss, grads = grad_fn(model, ids, tm, bias)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = run + loss
        if step == 1:
            kv(step=step, lr=lr_used, loss=loss.item(), note="first update at lr 0")
        if step % every == 0:
            vl = loss_fn(model, val_ids, val_tm, val_bias).item()
            kv(step=step, lr=lr_used, train_ce=(run / every).item(), val_ce=vl,
               val_bits=vl / math.log(2), secs=round(time.time() - t0, 1))
            run = mx.array(0.0)
    exact, first = greedy_exact(model, val_pairs, prefix_lm)
    kv(stage_end=title.split()[1], greedy_exact_pct=exact, first_gate_pct=first,
       copy_code_exact_pct=copy_base, chance_first_gate_pct=10.0)

section("sample")
p, a = val_pairs[0]
print("code   = " + "".join(NAMES[t] for t in p))
print("gates  = " + "".join(NAMES[t] for t in a))
