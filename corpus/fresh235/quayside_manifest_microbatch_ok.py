"""Tiny causal LM on synthetic manifest codes, trained with a microbatched train_step.

Each manifest line is an arithmetic run of container codes (start + stride * t, mod V).
A batch of 16 lines is split into microbatches of 4; gradients are summed, averaged,
clipped and applied once per step.
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def try_import_mlx():
    import mlx.core as _mx
    import mlx.nn as _nn
    return _mx, _nn


@dataclass
class TrainingConfig:
    learning_rate: float = 3e-3
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    grad_accum: int = 1
    microbatch: int = 0  # 0 disables
    dtype: Optional[str] = None  # 'bf16' for mixed precision compute
    label_smoothing: float = 0.0
    loss_scale: float = 1.0


VOCAB = 48
SEQ = 16
DIM = 64


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class ManifestLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=DIM, layers=2, heads=4, max_len=SEQ):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = [Block(dim, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def __call__(self, tokens):
        L = tokens.shape[1]
        x = self.tok(tokens) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


def xent_loss(logits, labels, *, ignore_index, label_smoothing=0.0):
    mx, nn = try_import_mlx()
    valid = labels != ignore_index
    ce = nn.losses.cross_entropy(logits, mx.maximum(labels, 0), label_smoothing=label_smoothing)
    ce = mx.where(valid, ce, mx.zeros_like(ce))
    return ce.sum() / mx.maximum(valid.sum(), 1)


def loss_forward(model, tok_batch):
    mx, nn = try_import_mlx()
    logits = model(tok_batch)
    return logits.astype(mx.float32)


def train_step(
    model: Any,
    batch: Dict[str, Any],
    optimizer: Any,
    cfg: TrainingConfig,
    pad_id: Optional[int] = None,
):
    """Single training step with optional microbatching and grad accumulation.

    batch expects keys: 'tokens' (int32 [B, L])
    """
    mx, nn = try_import_mlx()

    # Tree map helpers (unary/binary) across param/grad pytrees
    tm_core = getattr(mx, "tree_map", None) or getattr(nn, "tree_map", None)

    def _tree_map_unary(fn, x):
        if tm_core is not None:
            return tm_core(fn, x)
        if isinstance(x, dict):
            return {k: _tree_map_unary(fn, v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            out = [_tree_map_unary(fn, v) for v in x]
            return type(x)(out)
        return fn(x)

    def _tree_map_binary(fn, x, y):
        if tm_core is not None:
            return tm_core(lambda a, b: fn(a, b), x, y)
        if isinstance(x, dict) and isinstance(y, dict):
            return {k: _tree_map_binary(fn, x[k], y[k]) for k in x.keys()}
        if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)):
            out = [_tree_map_binary(fn, xi, yi) for xi, yi in zip(x, y)]
            return type(x)(out)
        return fn(x, y)

    tokens = batch["tokens"]
    B, L = tokens.shape
    ignore_index = pad_id if pad_id is not None else -100

    def loss_fn(tokens_slice):
        return xent_loss(
            loss_forward(model, tokens_slice)[:, :-1, :],
            tokens_slice[:, 1:],
            ignore_index=ignore_index,
            label_smoothing=cfg.label_smoothing,
        )

    # Microbatch split
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
            # Compute value and grads wrt model trainable params
            # Mixed-precision compute path: cast params to bf16 for compute only
            if cfg.dtype == "bf16":
                fp32_params = model.trainable_parameters()
                bf16_params = _tree_map_unary(lambda p: p.astype(mx.bfloat16), fp32_params)
                model.update(bf16_params)
                val_and_grad = nn.value_and_grad(model, lambda: loss_fn(sl) * cfg.loss_scale)
                loss, grads = val_and_grad()
                # Back to fp32 params for optimizer update later
                model.update(fp32_params)
                grads = _tree_map_unary(lambda g: g.astype(mx.float32) / cfg.loss_scale, grads)
                loss = loss / cfg.loss_scale
            else:
                val_and_grad = nn.value_and_grad(model, lambda: loss_fn(sl))
                loss, grads = val_and_grad()
            total_loss = total_loss + float(loss.item())
            total_steps += 1
            if grads_accum is None:
                grads_accum = grads
            else:
                grads_accum = _tree_map_binary(lambda a, b: a + b, grads_accum, grads)
        # Average grads over microbatches
        if total_steps > 1:
            grads_accum = _tree_map_unary(lambda g: g / total_steps, grads_accum)

    closure()

    # Clip gradients
    from mlx.optimizers import clip_grad_norm

    clipped, _ = clip_grad_norm(grads_accum, cfg.grad_clip)
    optimizer.update(model, clipped)

    return total_loss / max(total_steps, 1)


def make_manifests(n, rng):
    starts = rng.integers(0, VOCAB, size=n)
    strides = rng.choice([1, 2, 3, 5, 7], size=n)
    t = np.arange(SEQ)
    return ((starts[:, None] + strides[:, None] * t[None, :]) % VOCAB).astype(np.int32)


def batches(data, batch_size, rng):
    order = rng.permutation(len(data))
    for i in range(0, len(order), batch_size):
        yield {"tokens": mx.array(data[order[i : i + batch_size]])}


def eval_loss(model, data):
    x = mx.array(data)
    logits = model(x)[:, 1:-1, :]
    ce = nn.losses.cross_entropy(logits, x[:, 2:], reduction="mean")
    acc = (mx.argmax(logits, axis=-1) == x[:, 2:]).mean()
    return ce.item(), acc.item()


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    train = make_manifests(512, rng)
    val = make_manifests(256, rng)

    cfg = TrainingConfig(learning_rate=3e-3, grad_clip=1.0, microbatch=4)
    model = ManifestLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay)

    v0, a0 = eval_loss(model, val)
    print(f"start  val_loss {v0:.4f}  val_acc {a0:.3f}  (uniform {np.log(VOCAB):.4f})")
    step = 0
    for epoch in range(3):
        run, n = 0.0, 0
        for batch in batches(train, 16, rng):
            loss = train_step(model, batch, opt, cfg)
            mx.eval(model.parameters(), opt.state)
            run += loss
            n += 1
            step += 1
            if step % 8 == 0:
                print(f"step {step:4d}  train_loss {run / n:.4f}")
        v, a = eval_loss(model, val)
        print(f"epoch {epoch}  train_loss {run / n:.4f}  val_loss {v:.4f}  val_acc {a:.3f}")
    print(f"final val_loss {v:.4f}  val_acc {a:.3f}")


if __name__ == "__main__":
    main()
