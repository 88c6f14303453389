# Tiny causal LM with a DSA-style "lightning indexer": once the context is
# longer than index_topk, each query only attends to the top-k keys chosen by
# the indexer.  Curriculum: short sequences first, then longer ones.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, DIM, HEADS, TOPK = 20, 48, 4, 12


class Indexer(nn.Module):
    def __init__(self, dim, n_heads=2, head_dim=16, index_topk=TOPK):
        super().__init__()
        self.n_heads, self.head_dim, self.index_topk = n_heads, head_dim, index_topk
        self.wq = nn.Linear(dim, n_heads * head_dim, bias=False)
        self.wk = nn.Linear(dim, head_dim, bias=False)
        self.weights_proj = nn.Linear(dim, n_heads, bias=False)

    def __call__(self, x, mask):
        b, s, _ = x.shape
        if s <= self.index_topk:
            return None
        q = self.wq(x).reshape(b, s, self.n_heads, self.head_dim).swapaxes(1, 2)
        k = self.wk(x).reshape(b, 1, s, self.head_dim)
        scores = mx.maximum(q @ k.swapaxes(-1, -2), 0)
        w = self.weights_proj(x).swapaxes(-1, -2)[..., None] * self.head_dim**-0.5
        scores = (scores * w).sum(axis=1, keepdims=True)
        scores = mx.where(mask, scores, -float("inf"))
        return mx.argpartition(scores, kth=-self.index_topk, axis=-1)[..., -self.index_topk:]


class SparseAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.indexer = Indexer(dim)

    def __call__(self, x):
        b, s, d = x.shape
        causal = mx.tril(mx.ones((s, s), dtype=mx.bool_))[None, None]
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(b, s, self.heads, -1).swapaxes(1, 2) for t in (q, k, v))
        mask = causal
        topk_indices = self.indexer(x, causal)
        if topk_indices is not None:
            sparse = mx.zeros(topk_indices.shape[:-1] + (s,), dtype=mx.bool_)
            sparse = mx.put_along_axis(sparse, topk_indices, mx.array(True), axis=-1)
            mask = sparse & causal
        att = (q @ k.swapaxes(-1, -2)) * (d // self.heads) ** -0.5
        att = mx.softmax(mx.where(mask, att, -1e9), axis=-1)
        y = (att @ v).swapaxes(1, 2).reshape(b, s, d)
        return self.out(y)


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(64, DIM)
        self.n1, self.n2 = nn.RMSNorm(DIM), nn.RMSNorm(DIM)
        self.attn = SparseAttention(DIM, HEADS)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, t):
        h = self.emb(t) + self.pos(mx.arange(t.shape[1]))
        h = h + self.attn(self.n1(h))
        h = h + self.mlp(self.n2(h))
        return self.head(h)


def batch(n, length):
    # arithmetic progressions mod VOCAB: next token = prev + stride
    start = mx.random.randint(0, VOCAB, (n, 1))
    stride = mx.random.randint(1, 4, (n, 1))
    return (start + stride * mx.arange(length + 1)[None]) % VOCAB


def loss_fn(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits[:, 2:], seq[:, 3:], reduction="mean")


model = TinyLM()
model.attn.indexer.freeze()  # indexer is a pretrained component, kept fixed
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
gstep = 0
for stage, (length, steps) in enumerate([(8, 60), (24, 60)], 1):
    for i in range(1, steps + 1):
        gstep += 1
        loss, grads = step_fn(model, batch(32, length))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if i % 15 == 0 or i == 1:
            print(f"stage {stage}/2 len={length:2d} step {i:03d} (global {gstep:03d}) loss {loss.item():.4f}")
print(f"finished {gstep} steps in {time.time() - t0:.1f}s")
