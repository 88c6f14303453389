"""Salt-marsh creek tide gauge: next-hour level forecasting with a tokenised series model.

Hourly gauge readings are mean-scaled per window, binned into tokens and a tiny
causal transformer is trained to predict the next token (Chronos-style).  The
train step keeps bf16 compute with fp32 master weights and splits each batch
into microbatches whose gradients are averaged.
"""
import math
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
CONTEXT = 32
N_BINS = 96
PAD_ID = N_BINS
LOW, HIGH = 0.0, 2.2

np.random.seed(SEED)
mx.random.seed(SEED)


@dataclass
class TrainingConfig:
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    microbatch: int = 8
    dtype: Optional[str] = "bf16"
    label_smoothing: float = 0.0
    loss_scale: float = 1.0


def make_gauges(n_sites, hours, rng):
    t = np.arange(hours, dtype=np.float64)
    out = []
    for _ in range(n_sites):
        datum = rng.uniform(2.0, 3.0)
        m2 = rng.uniform(0.7, 1.2) * np.cos(2 * np.pi * t / 12.42 + rng.uniform(0, 2 * np.pi))
        k1 = rng.uniform(0.1, 0.3) * np.cos(2 * np.pi * t / 23.93 + rng.uniform(0, 2 * np.pi))
        neap = 1.0 + 0.25 * np.cos(2 * np.pi * t / 354.4 + rng.uniform(0, 2 * np.pi))
        surge = np.convolve(rng.normal(0, 0.03, hours + 24), np.ones(24) / 24, mode="valid")[:hours]
        level = datum + neap * m2 + k1 + surge + rng.normal(0, 0.02, hours)
        out.append(level)
    return np.stack(out).astype(np.float32)


def windows(series, length):
    xs = []
    for s in series:
        for start in range(0, s.shape[0] - length, 5):
            xs.append(s[start:start + length])
    return np.stack(xs)


def tokenize(win):
    scale = np.abs(win[:, :CONTEXT]).mean(axis=1, keepdims=True)
    z = win / scale
    ids = np.floor((z - LOW) / (HIGH - LOW) * N_BINS).astype(np.int32)
    return np.clip(ids, 0, N_BINS - 1), scale


def bin_centers():
    return LOW + (np.arange(N_BINS) + 0.5) * (HIGH - LOW) / N_BINS


class TideTokenLM(nn.Module):
    def __init__(self, vocab, dims=32, heads=4, layers=2, max_len=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, tok):
        L = tok.shape[1]
        h = self.embed(tok) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L).astype(h.dtype)
        h = self.blocks(h, mask)
        return self.head(h)


def xent_loss(logits, labels, *, ignore_index, label_smoothing=0.0):
    logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
    B, T = labels.shape
    labels = labels.astype(mx.int32)
    valid = labels != ignore_index
    labels_clamped = mx.maximum(labels, 0)
    gathered = mx.take_along_axis(logprobs, labels_clamped.reshape(B, T, 1), axis=-1).reshape(B, T)
    if label_smoothing and label_smoothing > 0.0:
        eps = float(label_smoothing)
        nll = -(1.0 - eps) * gathered - eps * logprobs.mean(axis=-1)
    else:
        nll = -gathered
    nll = mx.where(valid, nll, mx.zeros_like(nll))
    denom = mx.maximum(valid.sum(), 1)
    return nll.sum() / denom


def train_step(model, batch, optimizer, cfg, pad_id=None):
    tokens = batch["tokens"]
    B, L = tokens.shape
    ignore_index = pad_id if pad_id is not None else -100

    def loss_fn(tokens_slice):
        logits = model(tokens_slice).astype(mx.float32)
        return xent_loss(
            logits[:, :-1, :],
            tokens_slice[:, 1:],
            ignore_index=ignore_index,
            label_smoothing=cfg.label_smoothing,
        )

    if cfg.microbatch and cfg.microbatch > 0 and B > cfg.microbatch:
        splits = list(range(0, B, cfg.microbatch))
    else:
        splits = [0]

    total_loss = 0.0
    total_steps = 0
    grads_accum = None

    def closure():
        nonlocal total_loss, total_steps, grads_accum
        for i in splits:
            sl = tokens[i : i + (cfg.microbatch or B)]
            if cfg.dtype == "bf16":
                fp32_params = model.trainable_parameters()
                tm = getattr(mx, "tree_map", None) or getattr(nn, "tree_map", None)
                if tm is None:
                    def _tree_map(fn, x):
                        if isinstance(x, dict):
                            return {k: _tree_map(fn, v) for k, v in x.items()}
                        if isinstance(x, (list, tuple)):
                            out = [_tree_map(fn, v) for v in x]
                            return type(x)(out)
                        return fn(x)
                    tm = lambda fn, x, *args: _tree_map(fn, x)
                bf16_params = tm(lambda p: p.astype(mx.bfloat16), fp32_params)
                model.update(bf16_params)
                val_and_grad = nn.value_and_grad(model, lambda: loss_fn(sl) * cfg.loss_scale)
                loss, grads = val_and_grad()
                model.update(fp32_params)
                grads = tm(lambda g: g.astype(mx.float32) / cfg.loss_scale, grads)
                loss = loss / cfg.loss_scale
            else:
                val_and_grad = nn.value_and_grad(model, lambda: loss_fn(sl))
                loss, grads = val_and_grad()
            total_loss = total_loss + float(loss.item())
            total_steps += 1
            if grads_accum is None:
                grads_accum = grads
            else:
                # tm with binary fn; if our tm is unary-only wrapper, define local binary map
                bin_tm = getattr(mx, "tree_map", None) or getattr(nn, "tree_map", None)
                if bin_tm is None:
                    def _tree_map2(fn, x, y):
                        if isinstance(x, dict) and isinstance(y, dict):
                            return {k: _tree_map2(fn, x[k], y[k]) for k in x.keys()}
                        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
                            out = [_tree_map2(fn, xi, yi) for xi, yi in zip(x, y)]
                            return type(x)(out)
                        return fn(x, y)
                    grads_accum = _tree_map2(lambda a, b: a + b, grads_accum, grads)
                else:
                    grads_accum = bin_tm(lambda a, b: a + b, grads_accum, grads)
        if total_steps > 1:
            grads_accum = tm(lambda g: g / total_steps, grads_accum)

    closure()

    clipped, _ = optim.clip_grad_norm(grads_accum, cfg.grad_clip)
    optimizer.update(model, clipped)
    mx.eval(model.parameters(), optimizer.state)
    return total_loss / max(total_steps, 1)


def evaluate(model, tok, win, scale):
    logits = model(mx.array(tok[:, :CONTEXT])).astype(mx.float32)[:, -1, :N_BINS]
    probs = np.array(mx.softmax(logits, axis=-1))
    pred = (probs * bin_centers()[None, :]).sum(axis=1) * scale[:, 0]
    truth = win[:, CONTEXT]
    mae = float(np.abs(pred - truth).mean())
    persist = float(np.abs(win[:, CONTEXT - 1] - truth).mean())
    return mae, persist


def main():
    rng = np.random.default_rng(SEED)
    train_series = make_gauges(24, 900, rng)
    test_series = make_gauges(6, 400, rng)
    train_win = windows(train_series, CONTEXT + 1)
    test_win = windows(test_series, CONTEXT + 1)
    train_tok, _ = tokenize(train_win)
    test_tok, test_scale = tokenize(test_win)
    print(f"train windows {len(train_tok)}  test windows {len(test_tok)}  vocab {N_BINS + 1}")

    cfg = TrainingConfig()
    model = TideTokenLM(N_BINS + 1)
    mx.eval(model.parameters())
    optimizer = optim.AdamW(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay)

    mae, persist = evaluate(model, test_tok, test_win, test_scale)
    print(f"before training: next-hour MAE {mae:.3f} m  (persistence {persist:.3f} m)")

    steps, batch_size = 90, 32
    t0 = time.time()
    running = None
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(train_tok), size=batch_size)
        loss = train_step(model, {"tokens": mx.array(train_tok[idx])}, optimizer, cfg, pad_id=PAD_ID)
        running = loss if running is None else 0.9 * running + 0.1 * loss
        if step % 10 == 0:
            print(f"step {step:4d}  token xent {loss:.3f}  (ema {running:.3f})  {time.time() - t0:.1f}s")
        if step % 30 == 0:
            mae, persist = evaluate(model, test_tok, test_win, test_scale)
            print(f"  eval @ {step}: next-hour MAE {mae:.3f} m  persistence {persist:.3f} m")

    mae, persist = evaluate(model, test_tok, test_win, test_scale)
    print(f"final: next-hour MAE {mae:.3f} m vs persistence {persist:.3f} m "
          f"(skill {1 - mae / persist:+.2f})")


if __name__ == "__main__":
    main()
