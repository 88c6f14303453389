"""Tiny VQA fine-tune: frozen patch encoder, trainable projector, 4-block text
stack whose last two blocks reuse the K/V of block 1 (shared-KV backbone).
Synthetic "murals": 6 patches carrying a hue id and a motif id; questions ask
for one of the two; the answer is a single token."""
import inspect
import time
from types import SimpleNamespace

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

mx.random.seed(7)
rng = np.random.default_rng(7)

N_PATCH, PATCH_DIM, VIS_DIM, D, HEADS = 6, 16, 24, 32, 4
N_HUE, N_MOTIF = 5, 5
# vocab: 0 pad, 1 <ask_hue>, 2 <ask_motif>, 3 <sep>, 4.. hue words, then motif words
HUE0, MOTIF0 = 4, 4 + N_HUE
VOCAB = MOTIF0 + N_MOTIF

HUE_PROTO = rng.normal(size=(N_HUE, PATCH_DIM)).astype(np.float32)
MOTIF_PROTO = rng.normal(size=(N_MOTIF, PATCH_DIM)).astype(np.float32)


def make_split(n):
    hue = rng.integers(0, N_HUE, n)
    motif = rng.integers(0, N_MOTIF, n)
    # hue lives in the first three patches, motif in the last three
    pix = rng.normal(scale=1.5, size=(n, N_PATCH, PATCH_DIM)).astype(np.float32)
    pix[:, :3] += HUE_PROTO[hue][:, None, :]
    pix[:, 3:] += MOTIF_PROTO[motif][:, None, :]
    ask = rng.integers(0, 2, n)
    ids = np.stack([1 + ask, np.full(n, 3)], axis=1).astype(np.int32)
    ans = np.where(ask == 0, HUE0 + hue, MOTIF0 + motif).astype(np.int32)
    return mx.array(pix), mx.array(ids), mx.array(ans)


class _SharedKVSlot:
    def __init__(self):
        self.keys = None
        self.values = None

    @property
    def state(self):
        return (self.keys, self.values)

    def update_and_fetch(self, keys, values):
        self.keys = keys
        self.values = values
        return keys, values


class Attention(nn.Module):
    def __init__(self, dims, heads, kv_shared):
        super().__init__()
        self.heads = heads
        self.scale = (dims // heads) ** -0.5
        self.kv_shared = kv_shared
        self.q_proj = nn.Linear(dims, dims, bias=False)
        if not kv_shared:
            self.k_proj = nn.Linear(dims, dims, bias=False)
            self.v_proj = nn.Linear(dims, dims, bias=False)
        self.o_proj = nn.Linear(dims, dims, bias=False)

    def _split(self, t):
        B, L, _ = t.shape
        return t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)

    def __call__(self, x, mask=None, cache=None, shared_kv=None):
        B, L, _ = x.shape
        q = self._split(self.q_proj(x))
        if shared_kv is not None:
            k, v = shared_kv
        else:
            k = self._split(self.k_proj(x))
            v = self._split(self.v_proj(x))
            if cache is not None:
                k, v = cache.update_and_fetch(k, v)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, -1)), (k, v)


class Block(nn.Module):
    def __init__(self, dims, heads, kv_shared):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dims)
        self.self_attn = Attention(dims, heads, kv_shared)
        self.post_attention_layernorm = nn.RMSNorm(dims)
        self.mlp = nn.Sequential(nn.Linear(dims, 2 * dims), nn.GELU(), nn.Linear(2 * dims, dims))

    def __call__(self, x, mask=None, cache=None, shared_kv=None):
        a, kv = self.self_attn(self.input_layernorm(x), mask, cache, shared_kv)
        h = x + a
        return h + self.mlp(self.post_attention_layernorm(h)), kv


class TextBackbone(nn.Module):
    """Threads the shared K/V itself: `previous_kvs[i]` names the block whose
    K/V block i attends with."""

    def __init__(self, n_layers=4, num_kv_shared_layers=2):
        super().__init__()
        self.config = SimpleNamespace(num_kv_shared_layers=num_kv_shared_layers,
                                      model_type="tiny_text", hidden_size=D)
        self.num_hidden_layers = n_layers
        self.first_kv_shared_layer_idx = n_layers - num_kv_shared_layers
        first = self.first_kv_shared_layer_idx
        self.embed_tokens = nn.Embedding(VOCAB, D)
        self.layers = [Block(D, HEADS, kv_shared=i >= first) for i in range(n_layers)]
        self.norm = nn.RMSNorm(D)
        self.previous_kvs = [i if i < first else first - 1 for i in range(n_layers)]

    def __call__(self, inputs_embeds, mask=None, cache=None):
        h = inputs_embeds
        if cache is None:
            cache = [None] * len(self.layers)
        kvs = []
        for i, (layer, c) in enumerate(zip(self.layers, cache)):
            src = self.previous_kvs[i]
            h, kv = layer(h, mask, c, kvs[src] if src != i else None)
            kvs.append(kv)
        return self.norm(h)


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = TextBackbone()
        self.lm_head = nn.Linear(D, VOCAB, bias=False)


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_tower = nn.Sequential(nn.Linear(PATCH_DIM, VIS_DIM), nn.GELU(),
                                          nn.Linear(VIS_DIM, VIS_DIM))
        self.multi_modal_projector = nn.Sequential(nn.Linear(VIS_DIM, D), nn.GELU(),
                                                   nn.Linear(D, D))
        self.language_model = LanguageModel()

    def __call__(self, input_ids, pixel_values, mask=None, cache=None):
        feats = self.multi_modal_projector(self.vision_tower(pixel_values))
        tok = self.language_model.model.embed_tokens(input_ids)
        h = mx.concatenate([feats, tok], axis=1)
        h = self.language_model.model(h, mask=mask, cache=cache)
        return self.language_model.lm_head(h)


def _get_text_model(model):
    return getattr(model, "language_model", model)


def _has_native_shared_kv(backbone):
    layers = getattr(backbone, "layers", None) or []
    previous_kvs = getattr(backbone, "previous_kvs", None)
    if isinstance(previous_kvs, (list, tuple)) and layers and len(previous_kvs) == len(layers):
        return True
    try:
        params = inspect.signature(backbone.__class__.__call__).parameters
    except (TypeError, ValueError):
        return False
    return "shared_kv_sink" in params


def _check_kv_sharing(model):
    """Older backbones recompute shared K/V from a different hidden state when
    cache=None; they would need a cache shim. Native ones are left alone."""
    backbone = getattr(_get_text_model(model), "model", None)
    if backbone is None:
        return "none"
    if backbone.first_kv_shared_layer_idx >= backbone.num_hidden_layers:
        return "no shared layers"
    if _has_native_shared_kv(backbone):
        return "native"
    raise RuntimeError("legacy shared-KV backbone is not supported in this script")


def _shared_kv_slot_count(model):
    backbone = getattr(_get_text_model(model), "model", None)
    if backbone is None:
        return 0
    config = getattr(backbone, "config", None)
    if not (getattr(config, "num_kv_shared_layers", 0) or 0):
        return 0
    if _has_native_shared_kv(backbone):
        return 0
    return getattr(backbone, "first_kv_shared_layer_idx", 0) or 0


def _build_shared_kv_caches(model):
    slots = _shared_kv_slot_count(model)
    return [_SharedKVSlot() for _ in range(slots)] if slots else None


def loss_fn(model, pix, ids, ans):
    L = N_PATCH + ids.shape[1]
    fwd_kwargs = {"mask": nn.MultiHeadAttention.create_additive_causal_mask(L)}
    shared_kv = _build_shared_kv_caches(model)
    if shared_kv is not None:
        fwd_kwargs["cache"] = shared_kv
    logits = model(ids, pix, **fwd_kwargs).astype(mx.float32)
    return nn.losses.cross_entropy(logits[:, -1, :], ans, reduction="mean")


def accuracy(model, pix, ids, ans):
    L = N_PATCH + ids.shape[1]
    kw = {"mask": nn.MultiHeadAttention.create_additive_causal_mask(L)}
    shared_kv = _build_shared_kv_caches(model)
    if shared_kv is not None:
        kw["cache"] = shared_kv
    pred = mx.argmax(model(ids, pix, **kw)[:, -1, :], axis=-1)
    return (pred == ans).mean().item()


def main():
    model = TinyVLM()
    model.vision_tower.freeze()
    mx.eval(model.parameters())
    print("kv sharing:", _check_kv_sharing(model))
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"trainable params: {n_train} / {n_all}")
    start = {k: np.array(v) for k, v in tree_flatten(model.parameters())}

    tr_pix, tr_ids, tr_ans = make_split(2048)
    va_pix, va_ids, va_ans = make_split(256)
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    t0 = time.time()
    steps, bs = 300, 32
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, 2048, bs))
        loss, grads = step_fn(model, tr_pix[idx], tr_ids[idx], tr_ans[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 30 == 0:
            acc = accuracy(model, va_pix, va_ids, va_ans)
            print(f"step {step:4d}  loss {loss.item():.4f}  val_acc {acc:.3f}  "
                  f"(chance {1 / N_HUE:.2f})  {time.time() - t0:.1f}s")

    groups = {}
    for k, v in tree_flatten(model.parameters()):
        parts = k.split(".")
        g = ".".join(parts[:4]) if parts[:3] == ["language_model", "model", "layers"] else ".".join(parts[:2])
        a, b = start[k], np.array(v)
        d, n = groups.get(g, (0.0, 0.0))
        groups[g] = (d + float(((b - a) ** 2).sum()), n + float((a ** 2).sum()))
    print("relative weight drift by module:")
    for g, (d, n) in groups.items():
        print(f"  {g:34s} {np.sqrt(d) / max(np.sqrt(n), 1e-12):.4f}")


if __name__ == "__main__":
    main()
