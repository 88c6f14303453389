"""
Char-level pretraining on a synthetic copperplate engraving work-log corpus.
MLX backend, single file: bf16 weights, fp32 AdamW math, step budget,
pre-eval checkpoint, final bits-per-char eval.
"""

import math
import os
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(7)
rng = np.random.default_rng(7)

# ---------------------------------------------------------------------------
# Synthetic corpus: engraver's bench log lines
# ---------------------------------------------------------------------------

TOOLS = ["burin", "scraper", "burnisher", "roulette", "drypoint", "lozenge"]
STROKES = ["hatch", "crosshatch", "stipple", "flick", "swell", "lift"]
PLATES = ["copper", "zinc", "steel"]


def make_line():
    tool = TOOLS[rng.integers(len(TOOLS))]
    stroke = STROKES[rng.integers(len(STROKES))]
    plate = PLATES[rng.integers(len(PLATES))]
    depth = int(rng.integers(1, 6))
    count = int(rng.integers(2, 40))
    # depth is tied to the tool so the text has learnable structure
    angle = (TOOLS.index(tool) * 15 + depth * 5) % 90
    return f"{plate} plate: {tool} {stroke} x{count} depth {depth} angle {angle};\n"


text = "".join(make_line() for _ in range(6000))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int32)
split = int(0.9 * len(data))
train_data, val_data = data[:split], data[split:]

SEQ_LEN = 32
DEVICE_BATCH_SIZE = 16
TOTAL_STEPS = 200
FINAL_EVAL_BATCH_SIZE = 32


def make_dataloader(arr, batch_size):
    seen = 0
    while True:
        idx = rng.integers(0, len(arr) - SEQ_LEN - 1, size=batch_size)
        x = np.stack([arr[i:i + SEQ_LEN] for i in idx])
        y = np.stack([arr[i + 1:i + SEQ_LEN + 1] for i in idx])
        seen += batch_size * SEQ_LEN
        yield mx.array(x), mx.array(y), seen // len(arr)


# ---------------------------------------------------------------------------
# GPT model (bf16 weights)
# ---------------------------------------------------------------------------

@dataclass
class GPTConfig:
    sequence_len: int = SEQ_LEN
    vocab_size: int = len(chars)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 48


def norm(x):
    return x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + 1e-5)


def create_additive_causal_mask(seq_len, dtype=mx.float32):
    indices = mx.arange(seq_len)
    blocked = indices[None, :] > indices[:, None]
    return mx.where(blocked, mx.array(float("-inf"), dtype=dtype), mx.array(0.0, dtype=dtype))


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_q = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_k = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_v = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.rope = nn.RoPE(self.head_dim, traditional=True, base=10000)

    def __call__(self, x, mask):
        B, T, C = x.shape
        q = self.c_q(x).reshape(B, T, self.n_head, self.head_dim).transpose(0, 2, 1, 3)
        k = self.c_k(x).reshape(B, T, self.n_head, self.head_dim).transpose(0, 2, 1, 3)
        v = self.c_v(x).reshape(B, T, self.n_head, self.head_dim).transpose(0, 2, 1, 3)
        q = norm(self.rope(q))
        k = norm(self.rope(k))
        y = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(self.head_dim), mask=mask.astype(q.dtype))
        y = y.transpose(0, 2, 1, 3).reshape(B, T, C)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)

    def __call__(self, x):
        x = self.c_fc(x)
        x = mx.maximum(x, 0) ** 2
        return self.c_proj(x)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn = CausalSelfAttention(config)
        self.mlp = MLP(config)

    def __call__(self, x, mask):
        x = x + self.attn(norm(x), mask)
        x = x + self.mlp(norm(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = [Block(config) for _ in range(config.n_layer)]
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self._mask = create_additive_causal_mask(config.sequence_len)

    def init_weights(self):
        s = 3 ** 0.5 * self.config.n_embd ** -0.5
        self.wte.weight = (mx.random.normal(self.wte.weight.shape) * 1.0).astype(mx.bfloat16)
        self.lm_head.weight = (mx.random.normal(self.lm_head.weight.shape) * 0.001).astype(mx.bfloat16)
        for block in self.blocks:
            block.attn.c_q.weight = mx.random.uniform(-s, s, block.attn.c_q.weight.shape).astype(mx.bfloat16)
            block.attn.c_k.weight = mx.random.uniform(-s, s, block.attn.c_k.weight.shape).astype(mx.bfloat16)
            block.attn.c_v.weight = mx.random.uniform(-s, s, block.attn.c_v.weight.shape).astype(mx.bfloat16)
            block.attn.c_proj.weight = mx.zeros_like(block.attn.c_proj.weight).astype(mx.bfloat16)
            block.mlp.c_fc.weight = mx.random.uniform(-s, s, block.mlp.c_fc.weight.shape).astype(mx.bfloat16)
            block.mlp.c_proj.weight = mx.zeros_like(block.mlp.c_proj.weight).astype(mx.bfloat16)

    def __call__(self, idx, targets=None, reduction="mean"):
        T = idx.shape[1]
        x = norm(self.wte(idx))
        mask = self._mask[:T, :T]
        for block in self.blocks:
            x = block(x, mask)
        x = norm(x)
        logits = self.lm_head(x).astype(mx.float32)
        if targets is None:
            return logits
        loss = nn.losses.cross_entropy(logits, targets, reduction="none")
        return loss.mean() if reduction == "mean" else loss


# ---------------------------------------------------------------------------
# AdamW with fp32 math on bf16 parameters
# ---------------------------------------------------------------------------

class AdamW32:
    def __init__(self, model, lr, betas=(0.8, 0.95), eps=1e-10, weight_decay=0.0):
        self.model = model
        self.base_lr = lr
        self.lr = lr
        self.betas = betas
        self.eps = eps
        self.wd = weight_decay
        self.state = {}

    def set_schedule(self, lrm):
        self.lr = self.base_lr * lrm

    def update(self, grads):
        b1, b2 = self.betas
        flat_params = dict(tree_flatten(self.model.parameters()))
        new_params = []
        for path, grad in tree_flatten(grads):
            param = flat_params[path]
            g = grad.astype(mx.float32)
            p = param.astype(mx.float32)
            st = self.state.setdefault(path, {"m": mx.zeros_like(g), "v": mx.zeros_like(g), "t": 0})
            st["t"] += 1
            st["m"] = b1 * st["m"] + (1 - b1) * g
            st["v"] = b2 * st["v"] + (1 - b2) * g * g
            mhat = st["m"] / (1 - b1 ** st["t"])
            vhat = st["v"] / (1 - b2 ** st["t"])
            p = p * (1 - self.lr * self.wd) - self.lr * mhat / (mx.sqrt(vhat) + self.eps)
            new_params.append((path, p.astype(param.dtype)))
        self.model.update(tree_unflatten(new_params))

    @property
    def state_arrays(self):
        out = []
        for st in self.state.values():
            out.extend([st["m"], st["v"]])
        return out


def get_lr_multiplier(progress, warmup=0.05, warmdown=0.4):
    if progress < warmup:
        return (progress + 1e-8) / warmup
    if progress < 1.0 - warmdown:
        return 1.0
    return max(0.0, (1.0 - progress) / warmdown)


def evaluate_bpb(model, arr, batch_size, n_batches=8):
    loader = make_dataloader(arr, batch_size)
    total_nats, total_chars = 0.0, 0
    for _ in range(n_batches):
        x, y, _ = next(loader)
        loss = model(x, targets=y, reduction="none")
        mx.eval(loss)
        total_nats += float(loss.sum().item())
        total_chars += loss.size
    return total_nats / total_chars / math.log(2)


# ---------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------

t_start = time.time()
config = GPTConfig()
model = GPT(config)
model.init_weights()
mx.eval(model.parameters())
num_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"vocab: {config.vocab_size} chars | train chars: {len(train_data):,} | val chars: {len(val_data):,}")
print(f"params: {num_params:,} | dtype: {model.wte.weight.dtype}")

optimizer = AdamW32(model, lr=3e-3, weight_decay=0.0)
loss_grad_fn = nn.value_and_grad(model, lambda mdl, inputs, targets: mdl(inputs, targets=targets))
train_loader = make_dataloader(train_data, DEVICE_BATCH_SIZE)
x, y, epoch = next(train_loader)

print(f"Step budget: {TOTAL_STEPS}")
print(f"Initial val_bpb: {evaluate_bpb(model, val_data, FINAL_EVAL_BATCH_SIZE, n_batches=2):.4f}")

# ---------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------

smooth_train_loss = 0.0
total_training_time = 0.0
step = 0

while True:
    t0 = time.time()
    loss, grads = loss_grad_fn(model, x, y)
    mx.eval(loss, grads)
    train_loss_f = float(loss.item())
    x, y, epoch = next(train_loader)

    progress = min(step / TOTAL_STEPS, 1.0)
    lrm = get_lr_multiplier(progress)
    optimizer.set_schedule(lrm)
    optimizer.update(grads)
    mx.eval(model.parameters(), *optimizer.state_arrays)

    if not train_loss_f <= 100:
        print(f"FAIL: Loss exploded at step {step} (loss={train_loss_f:.2f})")
        raise SystemExit(1)

    dt = time.time() - t0
    total_training_time += dt
    ema_beta = 0.9
    smooth_train_loss = ema_beta * smooth_train_loss + (1 - ema_beta) * train_loss_f
    debiased_smooth_loss = smooth_train_loss / (1 - ema_beta ** (step + 1))
    tok_per_sec = int(DEVICE_BATCH_SIZE * SEQ_LEN / dt) if dt > 0 else 0
    if step % 10 == 0 or step == TOTAL_STEPS - 1:
        print(
            f"step {step:05d} ({100 * progress:.1f}%) | loss: {debiased_smooth_loss:.6f} | "
            f"lrm: {lrm:.2f} | dt: {dt * 1000:.0f}ms | tok/sec: {tok_per_sec:,}",
            flush=True,
        )
    step += 1
    if step >= TOTAL_STEPS:
        break

total_tokens = step * DEVICE_BATCH_SIZE * SEQ_LEN

# Save pre-eval checkpoint weights
print("Saving pre-eval checkpoint...")
flat_params = dict(tree_flatten(model.parameters()))
np.savez('pre_eval_checkpoint.npz', **{k: np.array(v) for k, v in flat_params.items()})

# Final eval
print("Starting final eval...")
val_bpb = evaluate_bpb(model, val_data, FINAL_EVAL_BATCH_SIZE)

# Eval succeeded - remove safety checkpoint
os.remove('pre_eval_checkpoint.npz')

t_end = time.time()
print("---")
print(f"val_bpb:          {val_bpb:.6f}")
print(f"training_seconds: {total_training_time:.1f}")
print(f"total_seconds:    {t_end - t_start:.1f}")
print(f"total_tokens_K:   {total_tokens / 1e3:.1f}")
print(f"num_steps:        {step}")
print(f"num_params_K:     {num_params / 1e3:.1f}")
