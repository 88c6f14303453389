"""Char-level decoder LM pretrained from scratch on lighthouse log lines, then
continued on tide-table lines with a re-warmed schedule (resumed from a checkpoint).

Reports mean log-likelihood per character in nats (negative; closer to 0 is better)
as CSV rows, next to a unigram baseline for each domain.
"""
import math
import os
import random
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(3)
mx.random.seed(3)

DIRS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"]
SEAS = ["CALM", "SLGT", "MOD", "ROUGH"]


def beacon_line():
    hh = random.choice(range(0, 24, 4))
    return (f"{hh:02d}00 LIGHT {random.choice(['OK', 'OK', 'OK', 'DIM'])} "
            f"VIS {random.randint(1, 12)}NM WIND {random.choice(DIRS)}{random.randint(1, 8)} "
            f"SEA {random.choice(SEAS)}\n")


def tide_line():
    h1, m1 = random.randint(0, 11), random.randint(0, 59)
    h2 = (h1 + 6) % 24
    return (f"HW {h1:02d}:{m1:02d} {random.randint(3, 6)}.{random.randint(0, 9)}M "
            f"LW {h2:02d}:{(m1 + 13) % 60:02d} {random.randint(0, 1)}.{random.randint(0, 9)}M\n")


def corpus(fn, n):
    return "".join(fn() for _ in range(n))


texts = {
    "A_train": corpus(beacon_line, 3000), "A_val": corpus(beacon_line, 200),
    "B_train": corpus(tide_line, 3000), "B_val": corpus(tide_line, 200),
}
chars = sorted(set("".join(texts.values())))
stoi = {c: i for i, c in enumerate(chars)}
data = {k: mx.array([stoi[c] for c in v], dtype=mx.int32) for k, v in texts.items()}
V = len(chars)
CTX = 32


def unigram_ll(train, val):
    counts = [1.0] * V
    for t in train.tolist():
        counts[t] += 1
    tot = sum(counts)
    logp = [math.log(c / tot) for c in counts]
    vals = val.tolist()
    return sum(logp[t] for t in vals) / len(vals)


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dims, 3 * dims, bias=False)
        self.out = nn.Linear(dims, dims, bias=False)

    def __call__(self, x):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        q = mx.fast.rope(q, q.shape[-1], traditional=False, base=10000.0, scale=1.0, offset=0)
        k = mx.fast.rope(k, k.shape[-1], traditional=False, base=10000.0, scale=1.0, offset=0)
        scale = 1.0 / math.sqrt(q.shape[-1])
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask="causal")
        return self.out(y.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.n1 = nn.RMSNorm(dims)
        self.attn = Attention(dims, heads)
        self.n2 = nn.RMSNorm(dims)
        self.up = nn.Linear(dims, 3 * dims, bias=False)
        self.down = nn.Linear(3 * dims, dims, bias=False)

    def __call__(self, x):
        x = x + self.attn(self.n1(x))
        return x + self.down(nn.silu(self.up(self.n2(x))))


class CharLM(nn.Module):
    def __init__(self, vocab, dims=48, heads=4, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dims)
        self.blocks = [Block(dims, heads) for _ in range(layers)]
        self.norm = nn.RMSNorm(dims)

    def __call__(self, ids):
        x = self.emb(ids)
        for b in self.blocks:
            x = b(x)
        return self.emb.as_linear(self.norm(x))


def loss_fn(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def batch(tokens, bs):
    starts = mx.random.randint(0, tokens.size - CTX - 1, (bs,))
    idx = starts[:, None] + mx.arange(CTX + 1)[None, :]
    return tokens[idx]


def val_ll(model, tokens):
    tokens = tokens[:2401]
    n = (tokens.size - 1) // CTX
    seqs = mx.stack([tokens[i * CTX:i * CTX + CTX + 1] for i in range(n)])
    logits = model(seqs[:, :-1])
    return -nn.losses.cross_entropy(logits, seqs[:, 1:], reduction="mean").item()


def schedule(peak, warm, total):
    return optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total - warm, peak * 0.05)],
        [warm])


def run_stage(name, model, opt, tokens, steps, t0, first_step=0):
    step_fn = nn.value_and_grad(model, loss_fn)
    window = []
    for s in range(1, steps + 1):
        loss, grads = step_fn(model, batch(tokens, 24))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lr_used = opt.learning_rate.item()
        window.append(loss.item())
        if s == 1 or s % 50 == 0:
            print(f"{name},{first_step + s},{lr_used:.2e},{-sum(window) / len(window):.4f},"
                  f"{val_ll(model, data['A_val']):.4f},{val_ll(model, data['B_val']):.4f},"
                  f"{time.perf_counter() - t0:.1f}")
            window = []


def main():
    t0 = time.perf_counter()
    base_a = unigram_ll(data["A_train"], data["A_val"])
    base_b = unigram_ll(data["B_train"], data["B_val"])
    print(f"# vocab {V}, context {CTX}; unigram baseline ll/char: beacon {base_a:.4f}, tide {base_b:.4f}")
    model = CharLM(V)
    mx.eval(model.parameters())
    print(f"# params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
    print("stage,step,lr,train_ll,beacon_val_ll,tide_val_ll,secs")
    print(f"init,0,0,,{val_ll(model, data['A_val']):.4f},{val_ll(model, data['B_val']):.4f},0.0")

    opt = optim.AdamW(learning_rate=schedule(3e-3, 50, 250), weight_decay=0.01)
    run_stage("pretrain", model, opt, data["A_train"], 250, t0)

    with tempfile.TemporaryDirectory() as d:
        wpath, opath = os.path.join(d, "lm.safetensors"), os.path.join(d, "opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        before = val_ll(model, data["A_val"])
        del model, opt
        model = CharLM(V)
        model.load_weights(wpath)
        opt = optim.AdamW(learning_rate=schedule(1.5e-3, 50, 200), weight_decay=0.01)
        state = tree_unflatten(list(mx.load(opath).items()))
        state.pop("step", None)
        state.pop("learning_rate", None)
        state["step"] = mx.array(0, dtype=mx.uint64)
        state["learning_rate"] = mx.array(0.0)
        opt.state = state
        mx.eval(model.parameters(), opt.state)
        after = val_ll(model, data["A_val"])
        print(f"# resumed from checkpoint: beacon val ll {before:.4f} -> {after:.4f}; schedule re-warmed from 0")
        print("# stage 2 trains on tide lines only (no beacon replay)")

    run_stage("continue", model, opt, data["B_train"], 200, t0, first_step=250)
    print(f"# done: beacon {val_ll(model, data['A_val']):.4f} (unigram {base_a:.4f}), "
          f"tide {val_ll(model, data['B_val']):.4f} (unigram {base_b:.4f}), {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
