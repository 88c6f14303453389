# tiny char-level GPT trained in bfloat16 (autoresearch-style train.py, shrunk)
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

TEXT = ("the quick brown fox jumps over the lazy dog. " * 40 +
        "pack my box with five dozen liquor jugs. " * 40)
chars = sorted(set(TEXT)); stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in TEXT], dtype=mx.int32)
V, T, D, H, L = len(chars), 32, 64, 4, 2
ACT_DTYPE = mx.bfloat16


def create_additive_causal_mask(seq_len, dtype=mx.bfloat16):
    idx = mx.arange(seq_len)
    blocked = idx[None, :] > idx[:, None]
    return mx.where(blocked, mx.array(float("-inf"), dtype=dtype), mx.array(0.0, dtype=dtype))


class Attn(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D, bias=False)
        self.proj = nn.Linear(D, D, bias=False)

    def __call__(self, x, mask):
        B, S, _ = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, S, H, D // H).transpose(0, 2, 1, 3) for t in (q, k, v))
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(D // H), mask=mask)
        return self.proj(o.transpose(0, 2, 1, 3).reshape(B, S, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.attn = Attn()
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))

    def __call__(self, x, mask):
        x = x + self.attn(self.n1(x), mask)
        return x + self.mlp(self.n2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.blocks = [Block() for _ in range(L)]
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, V, bias=False)

    def __call__(self, idx):
        S = idx.shape[1]
        mask = create_additive_causal_mask(S)
        x = self.tok(idx) + self.pos(mx.arange(S))
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


mx.random.seed(0)
model = GPT()
model.update(tree_map(lambda p: p.astype(ACT_DTYPE), model.parameters()))
mx.eval(model.parameters())


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)


def batch(bs=16):
    ix = mx.random.randint(0, data.size - T - 1, (bs,))
    off = mx.arange(T)
    return data[ix[:, None] + off], data[ix[:, None] + off + 1]


t0 = time.time()
for step in range(1, 201):
    x, y = batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    lf = loss.item()
    if not math.isfinite(lf) or lf > 100:
        print("FAIL"); raise SystemExit(1)
    if step == 1 or step % 50 == 0:
        print(f"step {step:05d} | loss: {lf:.6f} | dt: {time.time()-t0:.1f}s")
print("done")
