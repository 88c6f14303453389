"""Tiny character-level GPT trained on synthetic quarry ledger lines."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

VOCAB = "0123456789 |tslabrk\n"
stoi = {c: i for i, c in enumerate(VOCAB)}


def make_ledger(n_lines, seed):
    import random
    rng = random.Random(seed)
    out = []
    for _ in range(n_lines):
        bay = rng.randint(1, 9)
        tons = rng.randint(10, 99)
        kind = rng.choice(["slab", "rk", "tst"])
        out.append(f"{bay}|{kind}|{tons}|{(tons * bay) % 97:02d}\n")
    return "".join(out)


text = make_ledger(3000, 1)
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
split = int(0.9 * data.size)
train_data, val_data = data[:split], data[split:]


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class GPTModel(nn.Module):
    def __init__(self, vocab, d=48, heads=4, layers=2, ctx=32):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


def clip_gradients(grads: dict, max_norm: float) -> tuple:
    """
    Clip gradients by global norm.

    Args:
        grads: Dictionary of gradients (possibly nested)
        max_norm: Maximum norm for clipping

    Returns:
        Tuple of (clipped_gradients, total_norm)
    """
    # Compute global norm recursively
    def compute_norm_recursive(obj):
        if isinstance(obj, dict):
            total = 0.0
            for value in obj.values():
                total += compute_norm_recursive(value)
            return total
        elif isinstance(obj, list):
            total = 0.0
            for item in obj:
                total += compute_norm_recursive(item)
            return total
        elif obj is not None:
            # It's an array
            return mx.sum(obj * obj).item()
        else:
            return 0.0

    # Clip gradients recursively
    def clip_recursive(obj, clip_coef):
        if isinstance(obj, dict):
            return {k: clip_recursive(v, clip_coef) for k, v in obj.items()}
        elif isinstance(obj, list):
            return [clip_recursive(item, clip_coef) for item in obj]
        elif obj is not None:
            return obj * clip_coef
        else:
            return None

    total_norm = math.sqrt(compute_norm_recursive(grads))

    # Clip if necessary
    if total_norm > max_norm:
        clip_coef = max_norm / (total_norm + 1e-6)
        grads = clip_recursive(grads, clip_coef)

    return grads, total_norm


CTX, BATCH, STEPS = 24, 16, 120


def get_batch(src):
    ix = mx.random.randint(0, src.size - CTX - 1, (BATCH,))
    offs = mx.arange(CTX)
    x = src[ix[:, None] + offs[None, :]]
    y = src[ix[:, None] + offs[None, :] + 1]
    return x, y


model = GPTModel(len(VOCAB), ctx=CTX)
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    logits = m(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

print(f"vocab={len(VOCAB)} train_tokens={train_data.size} val_tokens={val_data.size}")
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = get_batch(train_data)
    loss, grads = loss_and_grad(model, x, y)
    grads, gnorm = clip_gradients(grads, 1.0)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 10 == 0 or step == 1:
        vx, vy = get_batch(val_data)
        vloss = loss_fn(model, vx, vy)
        print(f"step {step:4d} | loss {loss.item():.4f} | val {vloss.item():.4f} | grad_norm {gnorm:.3f} | {time.time() - t0:.1f}s")
print("training complete")
