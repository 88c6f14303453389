"""Completion-only fine-tune of a tiny decoder on a signal-box lever table.

Prompt  "S4721="  ->  completion "1274;"   (the lever order is read back reversed)

Trainer pieces modelled on the mlx-lm tuner: a TrainingArgs dataclass,
a pluggable loss (masked to the completion), an iterate_batches generator,
gradient checkpointing by patching the block class, gradient accumulation
and a TrainingCallback whose reports are printed as Lua table constructors.
"""
import math
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

VOCAB = list("0123456789=;S_")
STOI = {c: i for i, c in enumerate(VOCAB)}
PAD = STOI["_"]


def make_rows(n, rng):
    rows = []
    for _ in range(n):
        code = "".join(str(int(d)) for d in rng.integers(0, 10, size=4))
        rows.append((f"S{code}=", code[::-1] + ";"))
    return rows


def encode(rows):
    toks, offs = [], []
    for p, c in rows:
        toks.append([STOI[ch] for ch in p + c])
        offs.append(len(p))
    return np.array(toks, dtype=np.int32), np.array(offs, dtype=np.int32)


@dataclass
class TrainingArgs:
    batch_size: int = 16
    iters: int = 200
    val_batches: int = 4
    steps_per_report: int = 20
    steps_per_eval: int = 50
    grad_checkpoint: bool = True
    grad_accumulation_steps: int = 2
    warmup: int = 30
    peak_lr: float = 4e-3


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dims)
        self.attn = nn.MultiHeadAttention(dims, heads)
        self.ln2 = nn.LayerNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyDecoder(nn.Module):
    def __init__(self, vocab, dims=32, heads=2, layers=2, max_len=12):
        super().__init__()
        self.tok = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.layers = [Block(dims, heads) for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, ids):
        L = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(x.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.norm(x))


def grad_checkpoint(layer):
    """Same trick as mlx_lm.tuner.trainer.grad_checkpoint."""
    fn = type(layer).__call__

    def checkpointed_fn(model, *args, **kwargs):
        def inner_fn(params, *args, **kwargs):
            model.update(params)
            return fn(model, *args, **kwargs)

        return mx.checkpoint(inner_fn)(model.trainable_parameters(), *args, **kwargs)

    type(layer).__call__ = checkpointed_fn


def completion_loss(model, batch, offsets):
    inputs, targets = batch[:, :-1], batch[:, 1:]
    logits = model(inputs)
    pos = mx.arange(targets.shape[1])[None, :]
    mask = (pos >= (offsets[:, None] - 1)).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets) * mask
    ntoks = mask.sum()
    return ce.sum() / ntoks, ntoks


def iterate_batches(toks, offs, batch_size, rng, loop=True):
    n = len(toks)
    while True:
        perm = rng.permutation(n)
        for s in range(0, n - batch_size + 1, batch_size):
            idx = perm[s:s + batch_size]
            yield mx.array(toks[idx]), mx.array(offs[idx])
        if not loop:
            return


class TrainingCallback:
    def on_train_loss_report(self, info):
        pass

    def on_val_loss_report(self, info):
        pass


class LuaTableCallback(TrainingCallback):
    def _emit(self, tag, info):
        parts = []
        for k, v in info.items():
            if isinstance(v, float):
                parts.append(f"{k} = {v:.5g}")
            elif isinstance(v, str):
                parts.append(f'{k} = "{v}"')
            else:
                parts.append(f"{k} = {v}")
        print(f"{tag}{{ " + ", ".join(parts) + " }")

    def on_train_loss_report(self, info):
        self._emit("train_report", info)

    def on_val_loss_report(self, info):
        self._emit("val_report", info)


def greedy_exact_match(model, rows, max_new=5):
    prompts = [p for p, _ in rows]
    ids = mx.array([[STOI[c] for c in p] for p in prompts])
    for _ in range(max_new):
        nxt = mx.argmax(model(ids)[:, -1, :], axis=-1)
        ids = mx.concatenate([ids, nxt[:, None]], axis=1)
    out = np.array(ids)
    hits = 0
    for row, (p, c) in zip(out, rows):
        got = "".join(VOCAB[t] for t in row[len(p):])
        hits += int(got == c)
    return hits / len(rows)


def evaluate(model, toks, offs, args, rng):
    tot, ntok = 0.0, 0.0
    for _, (b, o) in zip(range(args.val_batches), iterate_batches(toks, offs, args.batch_size, rng, loop=False)):
        loss, n = completion_loss(model, b, o)
        tot += loss.item() * n.item()
        ntok += n.item()
    return tot / ntok


def train(model, optimizer, train_set, val_set, val_rows, args, loss=completion_loss, callback=None):
    if args.grad_checkpoint:
        grad_checkpoint(model.layers[0])
    loss_value_and_grad = nn.value_and_grad(model, loss)
    rng = np.random.default_rng(11)
    vrng = np.random.default_rng(12)

    losses, ntoks_window, trained_tokens = 0.0, 0.0, 0
    accum = None
    tic = time.perf_counter()
    batches = iterate_batches(*train_set, args.batch_size, rng)
    for it in range(1, args.iters + 1):
        if it == 1 or it % args.steps_per_eval == 0 or it == args.iters:
            stop = time.perf_counter()
            vl = evaluate(model, *val_set, args, vrng)
            em = greedy_exact_match(model, val_rows)
            callback.on_val_loss_report({
                "iteration": it, "val_loss": vl, "val_ppl": math.exp(vl),
                "val_exact_match": em, "val_took_s": time.perf_counter() - stop,
            })
            tic += time.perf_counter() - stop

        for _ in range(args.grad_accumulation_steps):
            b, o = next(batches)
            (lv, n), g = loss_value_and_grad(model, b, o)
            g = tree_map(lambda x: x / args.grad_accumulation_steps, g)
            accum = g if accum is None else tree_map(mx.add, accum, g)
            losses += lv * n
            ntoks_window += n
        flat = tree_flatten(accum) if it == 1 else None
        optimizer.update(model, accum)
        mx.eval(model.parameters(), optimizer.state, losses, ntoks_window)
        lr_used = optimizer.learning_rate.item()  # the rate this update used
        if it == 1:
            zero = [k for k, v in flat if float(mx.abs(v).max().item()) == 0.0]
            print(f'grad_check{{ leaves = {len(flat)}, zero_leaves = {len(zero)}, lr_at_first_update = {lr_used:.3g} }}')
        accum = None

        if it % args.steps_per_report == 0 or it == args.iters:
            window_loss = (losses / ntoks_window).item()
            trained_tokens += int(ntoks_window.item())
            el = time.perf_counter() - tic
            callback.on_train_loss_report({
                "iteration": it, "train_loss": window_loss, "learning_rate": lr_used,
                "it_per_sec": args.steps_per_report / el, "trained_tokens": trained_tokens,
                "peak_mem_mb": mx.get_peak_memory() / 1e6,
            })
            losses, ntoks_window = 0.0, 0.0
            tic = time.perf_counter()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(0)
    tr_rows, va_rows = make_rows(6000, rng), make_rows(400, rng)
    tr, va = encode(tr_rows), encode(va_rows)
    args = TrainingArgs()

    # baseline: read the levers back in the order given
    echo = np.mean([p[1:5] + ";" == c for p, c in va_rows])
    print(f'data{{ train_rows = {len(tr_rows)}, val_rows = {len(va_rows)}, '
          f'seq_len = {tr[0].shape[1]}, echo_order_exact_match = {echo:.4f} }}')

    model = TinyDecoder(len(VOCAB))
    nparams = sum(v.size for _, v in tree_flatten(model.parameters()))
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, args.peak_lr, args.warmup),
         optim.cosine_decay(args.peak_lr, args.iters - args.warmup, 1e-5)],
        [args.warmup],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    print(f'setup{{ params = {nparams}, grad_checkpoint = {str(args.grad_checkpoint).lower()}, '
          f'accumulation = {args.grad_accumulation_steps}, warmup_from = 0.0 }}')
    t0 = time.perf_counter()
    train(model, opt, tr, va, va_rows[:120], args, callback=LuaTableCallback())
    em = greedy_exact_match(model, va_rows)
    print(f'done{{ val_exact_match_all = {em:.4f}, echo_baseline = {echo:.4f}, secs = {time.perf_counter() - t0:.1f} }}')


if __name__ == "__main__":
    main()
