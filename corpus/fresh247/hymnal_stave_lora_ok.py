"""Tiny Starcoder2-style model on ABC-notation tunes: base training, then LoRA
adaptation to a second tune style (jigs with a repeated motif)."""
import math
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

# ---------------------------------------------------------------- tokenizer
NOTES = list("CDEFGABcdefgab")
VOCAB = ["<pad>", "<s>", "</s>", "|", "2", "3", "/2"] + NOTES
STOI = {t: i for i, t in enumerate(VOCAB)}
SEQ = 40


def encode(tokens):
    return [STOI["<s>"]] + [STOI[t] for t in tokens] + [STOI["</s>"]]


def reel(rng):
    # plain stepwise tune, four notes per bar
    out, pos = [], rng.integers(2, 10)
    while len(out) < SEQ - 6:
        for _ in range(4):
            pos = int(np.clip(pos + rng.choice([-2, -1, 1, 2]), 0, len(NOTES) - 1))
            out.append(NOTES[pos])
            if rng.random() < 0.3:
                out.append(rng.choice(["2", "/2"]))
        out.append("|")
    return out[: SEQ - 2]


def jig(rng):
    # each bar: a three-note motif, then the same motif a step higher, "3" markers
    out, base = [], rng.integers(0, 6)
    motif = rng.choice([-1, 1, 2], size=2)
    while len(out) < SEQ - 6:
        for shift in (0, 1):
            p = base + shift
            for d in (0, motif[0], motif[0] + motif[1]):
                out.append(NOTES[int(np.clip(p + d, 0, len(NOTES) - 1))])
            out.append("3")
        out.append("|")
        base = (base + 2) % 8
    return out[: SEQ - 2]


def make_set(fn, n, seed):
    rng = np.random.default_rng(seed)
    arr = np.zeros((n, SEQ), np.int32)
    lens = np.zeros((n,), np.int32)
    for i in range(n):
        ids = encode(fn(rng))
        arr[i, : len(ids)] = ids
        lens[i] = len(ids)
    return arr, lens


# ---------------------------------------------------------------- model
@dataclass
class ModelArgs:
    model_type: str
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int = None
    rms_norm_eps: float = 1e-5
    vocab_size: int = 49152
    rope_theta: float = 100000
    tie_word_embeddings: bool = True

    def __post_init__(self):
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim = args.hidden_size
        self.n_heads = n_heads = args.num_attention_heads
        self.n_kv_heads = n_kv_heads = args.num_key_value_heads
        self.repeats = self.n_heads // self.n_kv_heads
        head_dim = args.hidden_size // args.num_attention_heads
        self.scale = head_dim**-0.5
        self.q_proj = nn.Linear(dim, n_heads * head_dim, bias=True)
        self.k_proj = nn.Linear(dim, n_kv_heads * head_dim, bias=True)
        self.v_proj = nn.Linear(dim, n_kv_heads * head_dim, bias=True)
        self.o_proj = nn.Linear(n_heads * head_dim, dim, bias=True)
        self.rope = nn.RoPE(head_dim, traditional=False, base=args.rope_theta)

    def __call__(self, x, mask=None, cache=None):
        B, L, D = x.shape
        queries, keys, values = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        queries = queries.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        queries = self.rope(queries)
        keys = self.rope(keys)
        scores = (queries * self.scale) @ keys.transpose(0, 1, 3, 2)
        if mask is not None:
            scores += mask
        scores = mx.softmax(scores.astype(mx.float32), axis=-1).astype(scores.dtype)
        output = (scores @ values).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.o_proj(output), (keys, values)


class MLP(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.c_fc = nn.Linear(dim, hidden_dim, bias=True)
        self.c_proj = nn.Linear(hidden_dim, dim, bias=True)

    def __call__(self, x):
        return self.c_proj(nn.gelu(self.c_fc(x)))


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.self_attn = Attention(args)
        self.mlp = MLP(args.hidden_size, args.intermediate_size)
        self.input_layernorm = nn.LayerNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.LayerNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x, mask=None, cache=None):
        r, cache = self.self_attn(self.input_layernorm(x), mask, cache)
        h = x + r
        r = self.mlp(self.post_attention_layernorm(h))
        return h + r, cache


class Starcoder2Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args=args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.LayerNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, inputs, cache=None):
        h = self.embed_tokens(inputs)
        mask = None
        if h.shape[1] > 1:
            mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1])
            mask = mask.astype(h.dtype)
        if cache is None:
            cache = [None] * len(self.layers)
        for e, layer in enumerate(self.layers):
            h, cache[e] = layer(h, mask, cache[e])
        return self.norm(h), cache


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.model_type = args.model_type
        self.model = Starcoder2Model(args)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, inputs, cache=None):
        out, cache = self.model(inputs, cache)
        if not self.model.args.tie_word_embeddings:
            return self.lm_head(out), cache
        out = out @ self.model.embed_tokens.weight.T
        return out, cache

    @property
    def layers(self):
        return self.model.layers


# ---------------------------------------------------------------- lora
class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, r=8, lora_alpha=16, lora_dropout=0.05, scale=10.0):
        output_dims, input_dims = linear.weight.shape
        lora_lin = LoRALinear(input_dims, output_dims, r=r, lora_alpha=lora_alpha,
                              lora_dropout=lora_dropout, scale=scale)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims, output_dims, r=8, lora_alpha=16,
                 lora_dropout=0.0, scale=10.0, bias=False):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.lora_dropout = nn.Dropout(p=lora_dropout)
        self.scale = scale * (lora_alpha / r)
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, r))
        self.lora_b = mx.zeros(shape=(r, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (self.lora_dropout(x) @ self.lora_a) @ self.lora_b
        return y + self.scale * z


def linear_to_lora_layers(model: nn.Module, num_lora_layers: int):
    def check_lora_layers(num_model):
        if num_lora_layers > num_model:
            raise ValueError(f"Requested {num_lora_layers} LoRA layers "
                             f"but the model only has {num_model} layers.")

    if model.model_type in ["mistral", "llama", "phi", "mixtral", "stablelm",
                            "qwen2", "gemma", "starcoder2"]:
        check_lora_layers(len(model.model.layers))
        for l in model.model.layers[len(model.model.layers) - num_lora_layers:]:
            l.self_attn.q_proj = LoRALinear.from_linear(l.self_attn.q_proj)
            l.self_attn.v_proj = LoRALinear.from_linear(l.self_attn.v_proj)
    else:
        raise ValueError(f"Lora does not support {model.model_type}")


# ---------------------------------------------------------------- training
def default_loss(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks, ntoks


def batches(data, lens, bs, rng):
    while True:
        idx = rng.permutation(len(data))
        for i in range(0, len(idx) - bs + 1, bs):
            b = idx[i:i + bs]
            x = mx.array(data[b])
            yield x[:, :-1], x[:, 1:], mx.array(lens[b] - 1)


def evaluate(model, data, lens):
    x = mx.array(data)
    loss, _ = default_loss(model, x[:, :-1], x[:, 1:], mx.array(lens - 1))
    return loss.item()


def train(model, opt, data, lens, iters, tag, rng, val=None):
    loss_value_and_grad = nn.value_and_grad(model, default_loss)
    it = batches(data, lens, 16, rng)
    losses = []
    for step in range(1, iters + 1):
        x, y, l = next(it)
        (lvalue, toks), grad = loss_value_and_grad(model, x, y, l)
        opt.update(model, grad)
        mx.eval(model.parameters(), opt.state, lvalue)
        losses.append(lvalue.item())
        if step % 20 == 0:
            msg = f"[{tag}] iter {step:4d} train loss {np.mean(losses):.3f}"
            if val is not None:
                msg += f" val loss {evaluate(model, *val):.3f}"
            print(msg, flush=True)
            losses = []


def sample(model, n=30):
    toks = [STOI["<s>"]]
    for _ in range(n):
        logits, _ = model(mx.array([toks]))
        nxt = int(mx.argmax(logits[0, -1]).item())
        if nxt == STOI["</s>"]:
            break
        toks.append(nxt)
    return " ".join(VOCAB[t] for t in toks[1:])


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    args = ModelArgs(model_type="starcoder2", hidden_size=64, num_hidden_layers=2,
                     intermediate_size=128, num_attention_heads=4,
                     num_key_value_heads=4, vocab_size=len(VOCAB))
    model = Model(args)
    mx.eval(model.parameters())

    reels, reel_lens = make_set(reel, 512, 1)
    jigs, jig_lens = make_set(jig, 256, 2)
    jig_val = make_set(jig, 64, 3)

    t0 = time.time()
    print("== stage 1: base model on reels")
    train(model, optim.Adam(learning_rate=3e-3), reels, reel_lens, 100, "base", rng)
    base_jig = evaluate(model, *jig_val)
    print(f"base model jig val loss {base_jig:.3f}")

    print("== stage 2: LoRA on jigs")
    model.freeze()
    linear_to_lora_layers(model, 2)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"Trainable parameters {n_train} / {n_all} ({100 * n_train / n_all:.2f}%)")
    model.train()
    train(model, optim.Adam(learning_rate=1e-3), jigs, jig_lens, 100, "lora", rng, jig_val)
    model.eval()
    final = evaluate(model, *jig_val)
    print(f"jig val loss: base {base_jig:.3f} -> adapted {final:.3f}")
    print("sample:", sample(model))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
