# LoRA fine-tune of a tiny DSA-style sparse-attention LM (lightning indexer picks
# the top-k keys per query) on a synthetic Markov-chain corpus.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
VOCAB, SEQ, DIM, HEADS, TOPK = 16, 24, 32, 2, 8


class Indexer(nn.Module):
    def __init__(self, dim, idx_dim=16, index_topk=TOPK):
        super().__init__()
        self.wq = nn.Linear(dim, idx_dim, bias=False)
        self.wk = nn.Linear(dim, idx_dim, bias=False)
        self.index_topk = index_topk

    def __call__(self, x, mask):
        L = x.shape[1]
        if L <= self.index_topk:
            return None
        scores = self.wq(x) @ self.wk(x).transpose(0, 2, 1)
        scores = mx.where(mask, scores, -float("inf"))
        return mx.argpartition(scores, kth=-self.index_topk, axis=-1)[
            ..., -self.index_topk :
        ]


class SparseAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        self.indexer = Indexer(dim)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        topk_indices = self.indexer(x, mask)
        full = mask[None, None]
        if topk_indices is not None:
            sparse = mx.zeros((B, L, L), dtype=mx.bool_)
            sparse = mx.put_along_axis(sparse, topk_indices, mx.array(True), axis=-1)
            full = mx.logical_and(full, sparse[:, None])
        s = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(q.shape[-1])
        s = mx.where(full, s, -1e9)
        o = mx.softmax(s, axis=-1) @ v
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class TinyDSA(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.norm1 = nn.RMSNorm(DIM)
        self.attn = SparseAttention(DIM, HEADS)
        self.norm2 = nn.RMSNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tok):
        L = tok.shape[1]
        mask = mx.tril(mx.ones((L, L), dtype=mx.bool_))
        x = self.embed(tok) + self.pos(mx.arange(L))
        x = x + self.attn(self.norm1(x), mask)
        x = x + self.mlp(self.norm2(x))
        return self.head(x)


# Markov chain corpus: each token has 2 likely successors
trans = mx.softmax(4.0 * mx.random.normal((VOCAB, VOCAB)), axis=-1)
def sample_batch(n):
    toks = [mx.random.randint(0, VOCAB, (n,))]
    logp = mx.log(trans)
    for _ in range(SEQ):
        toks.append(mx.random.categorical(logp[toks[-1]]))
    seq = mx.stack(toks, axis=1)
    return seq[:, :-1], seq[:, 1:]

model = TinyDSA()
mx.eval(model.parameters())
# "pretrained" base is frozen; adapter-style: token embeddings, attention q/v and head train
# (the indexer stays frozen, as in the upstream recipe)
model.freeze()
for m in (model.embed, model.attn.q_proj, model.attn.v_proj, model.head):
    m.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"Trainable parameters: {n_train}")

opt = optim.Adam(learning_rate=3e-3)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

loss_and_grad = nn.value_and_grad(model, loss_fn)
val_x, val_y = sample_batch(64)
print(f"Iter 0: Val loss {loss_fn(model, val_x, val_y).item():.3f}")
tic = time.perf_counter()
for it in range(1, 301):
    x, y = sample_batch(32)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 25 == 0:
        vl = loss_fn(model, val_x, val_y).item()
        print(f"Iter {it}: Train loss {loss.item():.3f}, Val loss {vl:.3f}, "
              f"It/sec {25 / (time.perf_counter() - tic):.1f}")
        tic = time.perf_counter()
print("done")
