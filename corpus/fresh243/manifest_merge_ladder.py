"""Character LM on shipping-manifest lines, then grow the vocabulary with BPE merges.

Stage A trains on single characters. The stage-A weights are written to a
safetensors checkpoint, read back, the tied embedding table is extended with
one row per learned merge (initialised as the mean of its two parts), and
stage B continues on the re-tokenised text with a fresh optimizer.
Per-token loss is not comparable across vocabularies; bits per character is.
"""
import math
import os
import random
import tempfile
import time
from collections import Counter

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

random.seed(3)
mx.random.seed(3)

GOODS = ["amber tea", "salt cod", "tin plate", "wool bale", "indigo", "copper wire", "rye flour", "lamp oil"]
PORTS = ["vela", "marrow", "ostend", "kessel", "tarn", "beacon"]
UNITS = ["crate", "barrel", "sack", "bundle"]


def manifest_line():
    n = random.randint(1, 40)
    u = random.choice(UNITS)
    return f"{n} {u}{'s' if n > 1 else ''} of {random.choice(GOODS)} to {random.choice(PORTS)}\n"


def learn_merges(ids, n_merges, next_id):
    merges = []
    ids = list(ids)
    for _ in range(n_merges):
        pairs = Counter(zip(ids, ids[1:]))
        (a, b), _count = pairs.most_common(1)[0]
        merges.append((a, b, next_id))
        ids = apply_merge(ids, a, b, next_id)
        next_id += 1
    return merges


def apply_merge(ids, a, b, new):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == a and ids[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


class ContextLM(nn.Module):
    def __init__(self, vocab, ctx=8, dim=32, hidden=192):
        super().__init__()
        self.ctx = ctx
        self.embed = nn.Embedding(vocab, dim)
        self.hidden = nn.Linear(ctx * dim, hidden)
        self.proj = nn.Linear(hidden, dim)
        self.out_bias = mx.zeros((vocab,))

    def __call__(self, ctx_ids):
        e = self.embed(ctx_ids).reshape(ctx_ids.shape[0], -1)
        h = self.proj(nn.gelu(self.hidden(e)))
        return self.embed.as_linear(h) + self.out_bias


def windows(ids, ctx):
    a = mx.array(ids)
    idx = mx.arange(ctx)[None, :] + mx.arange(len(ids) - ctx)[:, None]
    return a[idx], a[ctx:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def eval_nats(model, x, y):
    total = 0.0
    for i in range(0, x.shape[0], 2048):
        total += nn.losses.cross_entropy(model(x[i:i + 2048]), y[i:i + 2048], reduction="sum").item()
    return total / x.shape[0]


def run_stage(name, model, train, val, steps, peak_lr, chars_per_token_val, row):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak_lr, 30), optim.cosine_decay(peak_lr, steps - 30, 1e-4)], [30]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)
    x, y = train
    n = x.shape[0]
    running = None
    for step in range(steps + 1):
        if step % 50 == 0:
            val_nats = eval_nats(model, *val)
            bpc = val_nats / chars_per_token_val / math.log(2)
            lr_now = sched(mx.array(step)).item()
            shown = "-" if running is None else f"{running:.3f}"
            row(name, step, lr_now, shown, val_nats, bpc)
        if step == steps:
            break
        idx = mx.random.randint(0, n, (128,))
        loss, grads = step_fn(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()


def main():
    t0 = time.time()
    train_text = "".join(manifest_line() for _ in range(1500))
    val_text = "".join(manifest_line() for _ in range(250))
    chars = sorted(set(train_text + val_text))
    stoi = {c: i for i, c in enumerate(chars)}
    tr_ids = [stoi[c] for c in train_text]
    va_ids = [stoi[c] for c in val_text]

    counts = Counter(tr_ids)
    p = {k: v / len(tr_ids) for k, v in counts.items()}
    unigram_bpc = -sum(math.log2(p.get(i, 1e-9)) for i in va_ids) / len(va_ids)

    print(f"corpus: {len(train_text)} train chars, {len(val_text)} val chars, {len(chars)} symbols")
    print(f"reference: unigram character model = {unigram_bpc:.3f} bits/char, uniform = {math.log2(len(chars)):.3f}")
    print()
    print("| stage | step | lr | train nats/token (ema) | val nats/token | val bits/char |")
    print("|---|---:|---:|---:|---:|---:|")

    def row(stage, step, lr, tr, vn, bpc):
        print(f"| {stage} | {step} | {lr:.2e} | {tr} | {vn:.3f} | {bpc:.3f} |", flush=True)

    ctx = 8
    model = ContextLM(len(chars), ctx=ctx)
    run_stage("A chars", model, windows(tr_ids, ctx), windows(va_ids, ctx), 250, 3e-3, 1.0, row)

    ckpt_dir = tempfile.TemporaryDirectory()
    path = os.path.join(ckpt_dir.name, "stage_a.safetensors")
    mx.save_safetensors(path, dict(tree_flatten(model.parameters())))
    print(f"\ncheckpoint written: stage_a.safetensors ({os.path.getsize(path) / 1024:.0f} KiB)")

    merges = learn_merges(tr_ids, 40, len(chars))
    vocab = dict(enumerate(chars))
    for a, b, new in merges:
        vocab[new] = vocab[a] + vocab[b]
    print(f"learned {len(merges)} merges; last five: {[vocab[m[2]] for m in merges[-5:]]}")
    for a, b, new in merges:
        tr_ids = apply_merge(tr_ids, a, b, new)
        va_ids = apply_merge(va_ids, a, b, new)
    cpt = len(val_text) / len(va_ids)
    print(f"re-tokenised: {len(tr_ids)} train tokens, {cpt:.2f} chars/token on val")

    model = ContextLM(len(chars), ctx=ctx)
    model.load_weights(path)
    old = model.embed.weight
    rows = {i: old[i] for i in range(old.shape[0])}
    for a, b, new in merges:
        rows[new] = 0.5 * (rows[a] + rows[b])
    grown = nn.Embedding(len(rows), old.shape[1])
    grown.weight = mx.stack([rows[i] for i in range(len(rows))])
    model.embed = grown
    model.out_bias = mx.concatenate([model.out_bias, mx.full((len(merges),), -2.0)])
    mx.eval(model.parameters())
    ckpt_dir.cleanup()
    print(f"embedding resized {old.shape[0]} -> {grown.weight.shape[0]} rows; stage B starts from the checkpoint\n")
    print("| stage | step | lr | train nats/token (ema) | val nats/token | val bits/char |")
    print("|---|---:|---:|---:|---:|---:|")
    run_stage("B merged", model, windows(tr_ids, ctx), windows(va_ids, ctx), 250, 2e-3, cpt, row)
    print(f"\ndone in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
