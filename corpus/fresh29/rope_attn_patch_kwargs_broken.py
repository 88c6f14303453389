"""Tiny char-level transformer LM with rotary position embeddings computed
once per forward in the decoder and handed to every attention block.
A "cache-safe" patch is installed on Attention.__call__ before training
(the kind of monkey-patch fine-tuning wrappers apply to upstream models)."""
import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0); mx.random.seed(0)
TEXT = ("the quick brown fox jumps over the lazy dog. " * 40 +
        "pack my box with five dozen liquor jugs. " * 40)
chars = sorted(set(TEXT)); stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in TEXT], dtype=mx.int32)
V, D, H, T = len(chars), 64, 4, 32


def rope_tables(L, dh):
    inv = 1.0 / (10000 ** (mx.arange(0, dh, 2) / dh))
    ang = mx.arange(L)[:, None] * inv[None, :]
    return mx.cos(ang), mx.sin(ang)


def apply_rope(x, cos, sin):
    x1, x2 = x[..., ::2], x[..., 1::2]
    return mx.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], axis=-1)


class Attention(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def __call__(self, x, mask=None, cache=None, position_ids=None,
                 position_embeddings=None):
        B, L, Dm = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        if position_embeddings is not None:
            cos, sin = position_embeddings
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = mx.fast.scaled_dot_product_attention(
            q, k, v, scale=1.0 / math.sqrt(q.shape[-1]), mask=mask)
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, Dm))


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(d), nn.RMSNorm(d)
        self.attn = Attention(d, h)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask, pe):
        x = x + self.attn(self.n1(x), mask=mask, position_embeddings=pe)
        return x + self.mlp(self.n2(x))


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.blocks = [Block(D, H) for _ in range(2)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, V)

    def __call__(self, idx):
        L = idx.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        pe = rope_tables(L, D // H)
        x = self.emb(idx)
        for b in self.blocks:
            x = b(x, mask, pe)
        return self.head(self.norm(x))


# --- patch: route attention through a wrapper that drops the kv-cache during
# training (copied from a fine-tuning helper written for an older model API)
_orig_attn_call = Attention.__call__


def patched_attn_call(self, x, mask=None, cache=None, position_ids=None):
    if self.training:
        cache = None
    return _orig_attn_call(self, x, mask=mask, cache=cache, position_ids=position_ids)


Attention.__call__ = patched_attn_call

model = LM()
model.train()
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def batch(bs=16):
    ix = [random.randrange(0, data.size - T - 1) for _ in range(bs)]
    xb = mx.stack([data[i:i + T] for i in ix])
    yb = mx.stack([data[i + 1:i + T + 1] for i in ix])
    return xb, yb


t0 = time.time()
print(f"vocab={V} params={sum(v.size for _, v in __import__('mlx.utils', fromlist=['tree_flatten']).tree_flatten(model.parameters()))}")
for it in range(1, 201):
    xb, yb = batch()
    loss, grads = step_fn(model, xb, yb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0 or it == 1:
        print(f"it {it:4d} | loss {loss.item():.4f} | bpc {loss.item()/math.log(2):.3f} | {time.time()-t0:5.1f}s")
print("done")
