# Pretrain a tiny causal transformer on ski-lift turnstile logs.
# Token stream comes from an order-2 source over gate-log words, cut into shards;
# the loader walks shards in a per-epoch order and is checkpointed with the model.
# Optimizers: Muon for hidden matrices, AdamW for embeddings / norms / head,
# both on a warmup-stable-decay schedule (warmup starts at lr 0).
# The run is split in two sessions to mimic a pre-empted job.
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

WORDS = ["<s>", "G1", "G2", "G3", "G4", "adult", "child", "senior", "season",
         "day", "tap", "deny", "reread", "ok", "wind", "hold", "run", "slow",
         "t0", "t1", "t2", "t3", "chair", "gondola"]
V = len(WORDS)
SEQ, MB, ACCUM = 32, 16, 2
TOTAL, WARM, DECAY_FROM = 160, 16, 120
PREEMPT_AT = 80


def make_source(seed=7):
    rng = np.random.default_rng(seed)
    P = np.zeros((V, V, V))
    for a in range(V):
        for b in range(V):
            nxt = rng.choice(V, size=3, replace=False)
            P[a, b, nxt] = rng.dirichlet([3.0, 1.5, 0.6])
    return P


def entropy_rate(P):
    # stationary distribution over (a, b) pairs by power iteration
    pi = np.full((V, V), 1.0 / (V * V))
    for _ in range(400):
        new = np.einsum("ab,abc->bc", pi, P)
        pi = new / new.sum()
    h = -np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0).sum(-1)
    return float((pi * h).sum())


def sample(P, n, rng):
    out = np.empty(n, dtype=np.int32)
    a, b = 0, 0
    cum = P.cumsum(-1)
    u = rng.random(n)
    for i in range(n):
        c = int(np.searchsorted(cum[a, b], u[i] * cum[a, b, -1]))
        out[i] = c
        a, b = b, c
    return out


class ShardLoader:
    def __init__(self, shards, seed):
        self.shards, self.seed = shards, seed
        self.epoch, self.slot, self.offset = 0, 0, 0

    def order(self):
        return np.random.default_rng(self.seed + self.epoch).permutation(len(self.shards))

    def next_batch(self):
        span = MB * (SEQ + 1)
        shard = self.shards[self.order()[self.slot]]
        if self.offset + span > len(shard):
            self.slot, self.offset = self.slot + 1, 0
            if self.slot == len(self.shards):
                self.epoch, self.slot = self.epoch + 1, 0
            shard = self.shards[self.order()[self.slot]]
        block = shard[self.offset:self.offset + span].reshape(MB, SEQ + 1)
        self.offset += span
        return mx.array(block[:, :-1]), mx.array(block[:, 1:])

    def state(self):
        return {"epoch": self.epoch, "slot": self.slot, "offset": self.offset}

    def load(self, s):
        self.epoch, self.slot, self.offset = s["epoch"], s["slot"], s["offset"]


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.n1, self.n2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.proj = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(d // heads)
        self.up = nn.Linear(d, 2 * 2 * d, bias=False)
        self.down = nn.Linear(2 * d, d, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        q, k = self.rope(q), self.rope(k)
        a = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.proj(a.transpose(0, 2, 1, 3).reshape(B, L, D))
        g, u = mx.split(self.up(self.n2(x)), 2, axis=-1)
        return x + self.down(nn.silu(g) * u)


class GateLM(nn.Module):
    def __init__(self, d=48, heads=4, layers=1):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, V, bias=False)

    def __call__(self, x):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        h = self.emb(x)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(self.norm(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def wsd(peak):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, WARM),
         optim.linear_schedule(peak, peak, DECAY_FROM - WARM),
         optim.linear_schedule(peak, 0.0, TOTAL - DECAY_FROM)],
        [WARM, DECAY_FROM])


def is_hidden_matrix(path, w):
    return w.ndim == 2 and "blocks" in path


def build(seed):
    mx.random.seed(seed)
    model = GateLM()
    mx.eval(model.parameters())
    opt = optim.MultiOptimizer(
        [optim.Muon(learning_rate=wsd(0.03), weight_decay=0.0, ns_steps=3),
         optim.AdamW(learning_rate=wsd(6e-3), weight_decay=0.01)],
        [is_hidden_matrix])
    return model, opt


def evaluate(model, val):
    n = (len(val) - 1) // (SEQ + 1) * (SEQ + 1)
    block = val[:n].reshape(-1, SEQ + 1)
    tot, cnt = 0.0, 0
    for i in range(0, len(block), 32):
        b = mx.array(block[i:i + 32])
        l = nn.losses.cross_entropy(model(b[:, :-1]), b[:, 1:], reduction="sum")
        tot += l.item()
        cnt += b[:, 1:].size
    return tot / cnt


def run_session(model, opt, loader, val, start, stop, t0):
    lg = nn.value_and_grad(model, loss_fn)
    run_loss, run_n = 0.0, 0
    for step in range(start, stop):
        acc, lsum = None, 0.0
        for _ in range(ACCUM):
            x, y = loader.next_batch()
            l, g = lg(model, x, y)
            acc = g if acc is None else tree_map(mx.add, acc, g)
            lsum = lsum + l
        opt.update(model, tree_map(lambda t: t / ACCUM, acc))
        mx.eval(model.parameters(), opt.state, lsum)
        run_loss += lsum.item() / ACCUM
        run_n += 1
        s = step + 1
        if s % 10 == 0:
            lr = opt.optimizers[1].learning_rate.item()
            print(f"step={s:4d} shard_epoch={loader.epoch} lr_adamw={lr:.2e} "
                  f"train_nll={run_loss / run_n:.4f} t={time.time() - t0:5.1f}s")
            run_loss, run_n = 0.0, 0
        if s % 40 == 0 or s == stop:
            v = evaluate(model, val)
            print(f"  eval step={s:4d} val_nll={v:.4f} val_ppl={math.exp(v):.3f}")


def main():
    t0 = time.time()
    P = make_source()
    rng = np.random.default_rng(11)
    shards = [sample(P, 5200, rng) for _ in range(6)]
    val = sample(P, 4000, rng)
    floor = entropy_rate(P)
    train_all = np.concatenate(shards)
    uni = np.bincount(train_all, minlength=V) + 1.0
    uni_nll = float(-(np.bincount(val, minlength=V) * np.log(uni / uni.sum())).sum() / len(val))
    big = np.ones((V, V))
    np.add.at(big, (train_all[:-1], train_all[1:]), 1.0)
    big /= big.sum(1, keepdims=True)
    big_nll = float(-np.log(big[val[:-1], val[1:]]).mean())
    print(f"shards={len(shards)} tokens/shard={len(shards[0])} val_tokens={len(val)} vocab={V}")
    print(f"reference val_nll: source_floor={floor:.4f} bigram={big_nll:.4f} unigram={uni_nll:.4f} "
          f"uniform={math.log(V):.4f}")

    model, opt = build(seed=0)
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"params={n_params} tokens/step={SEQ * MB * ACCUM} steps={TOTAL} "
          f"schedule=warmup{WARM}/stable/decay@{DECAY_FROM}")
    loader = ShardLoader(shards, seed=3)
    print(f"  eval step=   0 val_nll={evaluate(model, val):.4f}")

    # session 1, then a checkpoint as if the job were pre-empted
    run_session(model, opt, loader, val, 0, PREEMPT_AT, t0)
    before = evaluate(model, val)
    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "model.safetensors"))
        mx.save_safetensors(os.path.join(d, "optim.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "loader.json"), "w") as f:
            json.dump({"step": PREEMPT_AT, **loader.state()}, f)
        print(f"checkpoint written at step {PREEMPT_AT} ({len(os.listdir(d))} files); session 1 ends")
        del model, opt, loader

        model, opt = build(seed=99)
        model.load_weights(os.path.join(d, "model.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "optim.safetensors")).items()))
        with open(os.path.join(d, "loader.json")) as f:
            meta = json.load(f)
        loader = ShardLoader(shards, seed=3)
        loader.load(meta)
    after = evaluate(model, val)
    print(f"session 2 resumes at step {meta['step']} (shard epoch {loader.epoch}, slot {loader.slot}, "
          f"offset {loader.offset}); val_nll before={before:.4f} after_load={after:.4f}")
    run_session(model, opt, loader, val, meta["step"], TOTAL, t0)

    final = evaluate(model, val)
    print(f"final val_nll={final:.4f} (floor {floor:.4f}, bigram {big_nll:.4f}) "
          f"gap_to_floor={final - floor:+.4f} optimizer_step={opt.optimizers[0].step.item()} "
          f"elapsed={time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
