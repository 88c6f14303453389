"""Long-context SFT, chunked: every document is split into CHUNK-token pieces; each piece is
trained with attention over the (stop-gradient) keys/values cached from the earlier pieces of
the same document, and the cache is reset between documents."""
import time

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, DIM, HEADS, LAYERS = 64, 32, 2, 2
CHUNK, DOC_LEN, BATCH = 64, 256, 16
N_DOCS = 40


class KVCache:
    def __init__(self):
        self.keys = None
        self.values = None

    def update(self, k, v):
        if self.keys is None:
            self.keys, self.values = k, v
        else:
            self.keys = mx.concatenate([self.keys, k], axis=2)
            self.values = mx.concatenate([self.values, v], axis=2)

    @property
    def offset(self):
        return 0 if self.keys is None else self.keys.shape[2]


class LongContextKVCache(KVCache):
    """Cache used when the model runs in long-context (chunked) mode."""


def make_cache(long_context):
    cls = LongContextKVCache if long_context else KVCache
    return [cls() for _ in range(LAYERS)]


def reset_prompt_cache(cache):
    out = []
    for c in cache:
        if type(c) is KVCache:
            out.append(KVCache())
        else:
            out.append(c)
    return out


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(DIM), nn.LayerNorm(DIM)
        self.q = nn.Linear(DIM, DIM, bias=False)
        self.k = nn.Linear(DIM, DIM, bias=False)
        self.v = nn.Linear(DIM, DIM, bias=False)
        self.o = nn.Linear(DIM, DIM, bias=False)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x, cache):
        B, L, _ = x.shape
        h = self.ln1(x)
        split = lambda t: t.reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        past = cache.offset
        if past:
            K = mx.concatenate([cache.keys, k], axis=2)
            V = mx.concatenate([cache.values, v], axis=2)
        else:
            K, V = k, v
        i = mx.arange(L)[:, None] + past
        j = mx.arange(past + L)[None]
        mask = mx.where(j <= i, 0.0, -1e9).astype(x.dtype)
        a = mx.fast.scaled_dot_product_attention(q, K, V, scale=(DIM // HEADS) ** -0.5, mask=mask)
        x = x + self.o(a.transpose(0, 2, 1, 3).reshape(B, L, DIM))
        return x + self.mlp(self.ln2(x)), (k, v)


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.layers = [Layer() for _ in range(LAYERS)]
        self.norm = nn.LayerNorm(DIM)

    def __call__(self, x, cache):
        h = self.emb(x)
        new_kv = []
        for layer, c in zip(self.layers, cache):
            h, kv = layer(h, c)
            new_kv.append(kv)
        return self.emb.as_linear(self.norm(h)), new_kv


def loss_fn(model, x, y, cache):
    logits, new_kv = model(x, cache)
    return nn.losses.cross_entropy(logits, y, reduction="mean"), new_kv


def documents(rng):
    # token chains: mostly a fixed successor table, with occasional random jumps
    succ = rng.permutation(VOCAB)
    for _ in range(N_DOCS):
        doc = np.zeros((BATCH, DOC_LEN + 1), dtype=np.int32)
        doc[:, 0] = rng.integers(0, VOCAB, BATCH)
        for t in range(1, DOC_LEN + 1):
            jump = rng.random(BATCH) < 0.1
            doc[:, t] = np.where(jump, rng.integers(0, VOCAB, BATCH), succ[doc[:, t - 1]])
        yield mx.array(doc)


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    model = LM()
    opt = optim.AdamW(learning_rate=5e-4)
    vg = nn.value_and_grad(model, loss_fn)

    cache = make_cache(long_context=True)
    t0 = time.time()
    for d, doc in enumerate(documents(rng), start=1):
        cache = reset_prompt_cache(cache)
        losses = []
        for s in range(0, DOC_LEN, CHUNK):
            x, y = doc[:, s:s + CHUNK], doc[:, s + 1:s + CHUNK + 1]
            (loss, new_kv), grads = vg(model, x, y, cache)
            opt.update(model, grads)
            for c, (k, v) in zip(cache, new_kv):
                c.update(mx.stop_gradient(k), mx.stop_gradient(v))
            mx.eval(model.parameters(), opt.state, loss, [(c.keys, c.values) for c in cache])
            losses.append(loss.item())
        if d % 5 == 0:
            el = time.time() - t0
            print(f"doc {d:3d}/{N_DOCS} | first-chunk loss {losses[0]:.3f} | last-chunk loss {losses[-1]:.3f} "
                  f"| {d * BATCH * DOC_LEN / el:7.1f} tok/s", flush=True)
    print(f"finished {N_DOCS} documents in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
