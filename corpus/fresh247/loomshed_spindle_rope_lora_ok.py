# LoRA fine-tune of a small Llama-style checkpoint on a lag-copy task.
# Part 1 builds the "hub" checkpoint (reference implementation, HF layout),
# part 2 converts it and fine-tunes with LoRA adapters on wq / wv.
import math
import os
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 48
SEQ = 32
LAG = 5
HUB_CONFIG = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "intermediate_size": 128,
    "rms_norm_eps": 1e-5,
    "vocab_size": VOCAB,
    "rope_theta": 10000.0,
    "rope_traditional": False,
}

rng = np.random.default_rng(0)
mx.random.seed(0)


SWAP = np.arange(VOCAB)
SWAP[[0, 1, 2, 3, 4, 5, 6, 7]] = [1, 0, 3, 2, 5, 4, 7, 6]


def make_batch(n, skew=0.0, relabel=False):
    if skew > 0:
        p = 1.0 / np.arange(1, VOCAB + 1) ** skew
        p = p / p.sum()
        x = rng.choice(VOCAB, size=(n, SEQ + 1), p=p)
    else:
        x = rng.integers(0, VOCAB, size=(n, SEQ + 1))
    inp = x[:, :-1]
    tgt = np.roll(inp, LAG, axis=1)
    if relabel:
        tgt = SWAP[tgt]
    w = np.ones_like(inp, dtype=np.float32)
    w[:, :LAG] = 0.0
    return mx.array(inp), mx.array(tgt), mx.array(w)


# ---------------------------------------------------------------- hub side
class HubAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c["hidden_size"], c["num_attention_heads"]
        self.h = h
        self.hd = d // h
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(self.hd, traditional=c["rope_traditional"], base=c["rope_theta"])

    def __call__(self, x):
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.h, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.hd ** -0.5, mask="causal")
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, -1))


class HubLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.self_attn = HubAttention(c)
        self.input_layernorm = nn.RMSNorm(d, eps=c["rms_norm_eps"])
        self.post_attention_layernorm = nn.RMSNorm(d, eps=c["rms_norm_eps"])
        self.gate_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.up_proj = nn.Linear(d, c["intermediate_size"], bias=False)
        self.down_proj = nn.Linear(c["intermediate_size"], d, bias=False)

    def __call__(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(nn.silu(self.gate_proj(h)) * self.up_proj(h))


class HubModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = [HubLayer(c) for _ in range(c["num_hidden_layers"])]
        self.norm = nn.RMSNorm(c["hidden_size"], eps=c["rms_norm_eps"])
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)

    def __call__(self, x):
        h = self.embed_tokens(x)
        for l in self.layers:
            h = l(h)
        return self.lm_head(self.norm(h))


def masked_ce(logits, tgt, w):
    ce = nn.losses.cross_entropy(logits, tgt) * w
    return ce.sum() / w.sum()


def build_hub_checkpoint(path):
    model = HubModel(HUB_CONFIG)
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.0)
    lf = nn.value_and_grad(model, lambda m, x, y, w: masked_ce(m(x), y, w))
    for step in range(1, 61):
        x, y, w = make_batch(32)
        loss, g = lf(model, x, y, w)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if step % 20 == 0:
            print(f"[hub] step {step:4d}  loss {loss.item():.4f}")
    mx.savez(path, **dict(tree_flatten(model.parameters())))


# ---------------------------------------------------------- fine-tune side
@dataclass
class ModelArgs:
    dim: int
    n_layers: int
    head_dim: int
    hidden_dim: int
    n_heads: int
    n_kv_heads: int
    norm_eps: float
    vocab_size: int
    rope_theta: float = 10000
    rope_traditional: bool = False


def convert(hub_weights, c):
    m = {
        "embed_tokens": "tok_embeddings", "lm_head": "output", "self_attn.q_proj": "attention.wq",
        "self_attn.k_proj": "attention.wk", "self_attn.v_proj": "attention.wv",
        "self_attn.o_proj": "attention.wo", "input_layernorm": "attention_norm",
        "post_attention_layernorm": "ffn_norm", "gate_proj": "feed_forward.w1",
        "down_proj": "feed_forward.w2", "up_proj": "feed_forward.w3",
    }
    out = {}
    for k, v in hub_weights.items():
        for a, b in m.items():
            k = k.replace(a, b)
        out[k] = v
    args = ModelArgs(
        dim=c["hidden_size"], n_layers=c["num_hidden_layers"],
        head_dim=c["hidden_size"] // c["num_attention_heads"], hidden_dim=c["intermediate_size"],
        n_heads=c["num_attention_heads"], n_kv_heads=c["num_key_value_heads"],
        norm_eps=c["rms_norm_eps"], vocab_size=c["vocab_size"],
        rope_theta=c["rope_theta"], rope_traditional=c["rope_traditional"],
    )
    return out, args


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, rank=8):
        output_dims, input_dims = linear.weight.shape
        lora_lin = LoRALinear(input_dims, output_dims, rank)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims, output_dims, lora_rank=8, bias=False, scale=2.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.scale = scale
        bound = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-bound, high=bound, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.n_heads = args.n_heads
        self.n_kv_heads = args.n_kv_heads
        self.repeats = self.n_heads // self.n_kv_heads
        self.scale = args.head_dim ** -0.5
        self.wq = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=False)
        self.wo = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)
        self.rope = nn.RoPE(args.head_dim, traditional=args.rope_traditional, base=args.rope_theta)

    def __call__(self, x, mask=None, cache=None):
        B, L, D = x.shape
        queries, keys, values = self.wq(x), self.wk(x), self.wv(x)
        queries = queries.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)

        def repeat(a):
            a = mx.concatenate([mx.expand_dims(a, 2)] * self.repeats, axis=2)
            return a.reshape([B, self.n_heads, L, -1])

        keys, values = map(repeat, (keys, values))
        if cache is not None:
            key_cache, value_cache = cache
            queries = self.rope(queries, offset=key_cache.shape[2])
            keys = self.rope(keys, offset=key_cache.shape[2])
            keys = mx.concatenate([key_cache, keys], axis=2)
            values = mx.concatenate([value_cache, values], axis=2)
        else:
            queries = self.rope(queries)
            keys = self.rope(keys)
        scores = (queries * self.scale) @ keys.transpose(0, 1, 3, 2)
        if mask is not None:
            scores += mask
        scores = mx.softmax(scores.astype(mx.float32), axis=-1).astype(scores.dtype)
        output = (scores @ values).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.wo(output), (keys, values)


class FeedForward(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.w1 = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.w2 = nn.Linear(args.hidden_dim, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, args.hidden_dim, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = nn.RMSNorm(args.dim, eps=args.norm_eps)
        self.ffn_norm = nn.RMSNorm(args.dim, eps=args.norm_eps)

    def __call__(self, x, mask=None, cache=None):
        r, cache = self.attention(self.attention_norm(x), mask, cache)
        h = x + r
        r = self.feed_forward(self.ffn_norm(h))
        return h + r, cache


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = [TransformerBlock(args) for _ in range(args.n_layers)]
        self.norm = nn.RMSNorm(args.dim, eps=args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)

    def __call__(self, inputs, cache=None):
        h = self.tok_embeddings(inputs)
        mask = None
        if h.shape[1] > 1:
            mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1])
            mask = mask.astype(h.dtype)
        if cache is None:
            cache = [None] * len(self.layers)
        for e, layer in enumerate(self.layers):
            h, cache[e] = layer(h, mask, cache[e])
        return self.output(self.norm(h)), cache


def evaluate(model, batches):
    tot, acc, n = 0.0, 0.0, 0.0
    for x, y, w in batches:
        logits, _ = model(x)
        tot += (nn.losses.cross_entropy(logits, y) * w).sum().item()
        acc += ((mx.argmax(logits, axis=-1) == y) * w).sum().item()
        n += w.sum().item()
    return tot / n, acc / n


def main():
    t0 = time.time()
    ckpt = os.path.join(tempfile.mkdtemp(), "hub_weights.npz")
    build_hub_checkpoint(ckpt)

    weights, args = convert(dict(mx.load(ckpt)), HUB_CONFIG)
    model = Model(args)
    model.load_weights(list(weights.items()))
    model.freeze()
    for l in model.layers:
        l.attention.wq = LoRALinear.from_linear(l.attention.wq, rank=4)
        l.attention.wv = LoRALinear.from_linear(l.attention.wv, rank=4)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"Trainable parameters {n_train} / {n_total}")

    val = [make_batch(64, skew=0.8, relabel=True) for _ in range(2)]
    vl, va = evaluate(model, val)
    print(f"Iter 0: Val loss {vl:.3f}, Val acc {va:.3f}")

    def loss_fn(m, x, y, w):
        logits, _ = m(x)
        return masked_ce(logits, y, w)

    opt = optim.Adam(learning_rate=3e-4)
    lvg = nn.value_and_grad(model, loss_fn)
    run = 0.0
    for it in range(1, 101):
        x, y, w = make_batch(16, skew=0.8, relabel=True)
        loss, g = lvg(model, x, y, w)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if it % 10 == 0:
            print(f"Iter {it}: Train loss {run / 10:.3f}")
            run = 0.0
        if it % 25 == 0:
            vl, va = evaluate(model, val)
            print(f"Iter {it}: Val loss {vl:.3f}, Val acc {va:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
