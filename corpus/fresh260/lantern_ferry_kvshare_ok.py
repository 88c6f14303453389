# Tiny Gemma-style decoder whose upper layers share K/V with an earlier layer.
# Trains on a synthetic key/value recall task, then scores held-out data through the
# prompt-cache path used for generation.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

NKEYS = 8
NVALS = 8
VOCAB = NKEYS + NVALS
PAIRS = 4
SEQ = 4 * PAIRS
DIM = 32
HEADS = 4
LAYERS = 4
FIRST_SHARED = 1
STEPS = 150
BATCH = 32


class KVCache:
    def __init__(self):
        self.keys = None
        self.values = None
        self.offset = 0

    @property
    def state(self):
        return (self.keys, self.values)

    def update_and_fetch(self, keys, values):
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            self.keys = mx.concatenate([self.keys, keys], axis=2)
            self.values = mx.concatenate([self.values, values], axis=2)
        self.offset += keys.shape[2]
        return self.keys, self.values


class Attention(nn.Module):
    def __init__(self, dims, heads, is_kv_shared_layer):
        super().__init__()
        self.heads = heads
        self.head_dim = dims // heads
        self.scale = self.head_dim ** -0.5
        self.is_kv_shared_layer = is_kv_shared_layer
        self.q_proj = nn.Linear(dims, dims, bias=False)
        self.k_proj = nn.Linear(dims, dims, bias=False)
        self.v_proj = nn.Linear(dims, dims, bias=False)
        self.o_proj = nn.Linear(dims, dims, bias=False)

    def _split(self, t):
        B, L, _ = t.shape
        return t.reshape(B, L, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def __call__(self, x, mask=None, cache=None):
        B, L, D = x.shape
        queries = self._split(self.q_proj(x))
        if self.is_kv_shared_layer and cache is not None:
            keys, values = cache.state
        else:
            keys = self._split(self.k_proj(x))
            values = self._split(self.v_proj(x))
            if cache is not None:
                keys, values = cache.update_and_fetch(keys, values)
        out = mx.fast.scaled_dot_product_attention(
            queries, keys, values, scale=self.scale, mask=mask
        )
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class DecoderLayer(nn.Module):
    def __init__(self, dims, heads, is_kv_shared_layer):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dims)
        self.self_attn = Attention(dims, heads, is_kv_shared_layer)
        self.post_attention_layernorm = nn.RMSNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.GELU(), nn.Linear(4 * dims, dims))

    def __call__(self, x, mask=None, cache=None):
        h = x + self.self_attn(self.input_layernorm(x), mask, cache)
        return h + self.mlp(self.post_attention_layernorm(h))


class TextModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.num_hidden_layers = LAYERS
        self.first_kv_shared_layer_idx = FIRST_SHARED
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.embed_positions = nn.Embedding(SEQ, DIM)
        self.layers = [DecoderLayer(DIM, HEADS, i >= FIRST_SHARED) for i in range(LAYERS)]
        self.layer_idx_to_cache_idx = [min(i, FIRST_SHARED - 1) for i in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)

    def __call__(self, inputs=None, mask=None, cache=None):
        L = inputs.shape[1]
        h = self.embed_tokens(inputs) + self.embed_positions(mx.arange(L))
        if mask is None:
            mask = "causal"
        if cache is None:
            cache = [None] * self.first_kv_shared_layer_idx
        for i, layer in enumerate(self.layers):
            h = layer(h, mask, cache[self.layer_idx_to_cache_idx[i]])
        return self.norm(h)


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = TextModel()
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, inputs, cache=None):
        return self.lm_head(self.model(inputs=inputs, cache=cache))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.language_model = LanguageModel()

    def __call__(self, inputs, cache=None):
        return self.language_model(inputs, cache=cache)


class _TrainingKVStore:
    __slots__ = ("keys", "values")

    def __init__(self):
        self.keys = None
        self.values = None

    @property
    def offset(self):
        return 0

    @property
    def state(self):
        return (self.keys, self.values)

    def update_and_fetch(self, keys, values):
        self.keys = keys
        self.values = values
        return keys, values


def _route_kv_sharing(model):
    lm = getattr(model, "language_model", None)
    if lm is None:
        return
    backbone = getattr(lm, "model", None)
    if backbone is None:
        return

    first_shared = getattr(backbone, "first_kv_shared_layer_idx", None)
    num_layers = getattr(backbone, "num_hidden_layers", None)
    if first_shared is None or num_layers is None or first_shared >= num_layers:
        return

    cls = backbone.__class__
    if getattr(cls, "_kv_sharing_patched", False):
        return

    original_call = cls.__call__
    n_stores = first_shared

    def patched_call(self, inputs=None, mask=None, cache=None, **kwargs):
        if cache is None:
            cache = [_TrainingKVStore() for _ in range(n_stores)]
        return original_call(self, inputs=inputs, mask=mask, cache=cache, **kwargs)

    cls.__call__ = patched_call
    cls._kv_sharing_patched = True


def make_prompt_cache(model):
    return [KVCache() for _ in range(model.language_model.model.first_kv_shared_layer_idx)]


# key/value recall: k1 v1 .. k4 v4 then q1 a1 .. q4 a4, score the answers
ANSWER_POS = mx.array([2 * PAIRS + 2 * j for j in range(PAIRS)])


def make_batch(rng, n):
    keys = np.argsort(rng.random((n, NKEYS)), axis=1)[:, :PAIRS]
    vals = rng.integers(NKEYS, VOCAB, size=(n, PAIRS))
    order = np.argsort(rng.random((n, PAIRS)), axis=1)
    qk = np.take_along_axis(keys, order, axis=1)
    qv = np.take_along_axis(vals, order, axis=1)
    ctx = np.stack([keys, vals], axis=2).reshape(n, -1)
    qry = np.stack([qk, qv], axis=2).reshape(n, -1)
    seq = np.concatenate([ctx, qry], axis=1)
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def recall_loss(logits, targets):
    ce = nn.losses.cross_entropy(logits[:, ANSWER_POS], targets[:, ANSWER_POS])
    return ce.mean()


def recall_acc(logits, targets):
    pred = mx.argmax(logits[:, ANSWER_POS], axis=-1)
    return (pred == targets[:, ANSWER_POS]).astype(mx.float32).mean()


mx.random.seed(7)
rng = np.random.default_rng(7)
model = Model()
_route_kv_sharing(model)
mx.eval(model.parameters())

opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)


def loss_fn(model, x, y):
    return recall_loss(model(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)
vx, vy = make_batch(np.random.default_rng(123), 256)
print(f"chance loss {np.log(NVALS):.3f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_batch(rng, BATCH)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        logits = model(vx)
        print(f"step {step:4d} train_loss {loss.item():.4f} val_loss {recall_loss(logits, vy).item():.4f} "
              f"val_acc {recall_acc(logits, vy).item():.3f} ({time.time() - t0:.1f}s)")

model.eval()
cache = make_prompt_cache(model)
logits = model(vx, cache=cache)
print(f"cached-eval loss {recall_loss(logits, vy).item():.4f} acc {recall_acc(logits, vy).item():.3f}")
logits = model(vx)
print(f"plain-eval  loss {recall_loss(logits, vy).item():.4f} acc {recall_acc(logits, vy).item():.3f}")
