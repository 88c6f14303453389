# LoRA fine-tuning of a tiny Llama-style char model on ledger recitals,
# followed by a sample completion from the tuned model.
import argparse
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def build_parser():
    parser = argparse.ArgumentParser(description="LoRA finetuning on ledger recitals.")
    parser.add_argument("--max-tokens", "-m", type=int, default=40)
    parser.add_argument("--temp", type=float, default=0.0)
    parser.add_argument("--prompt", "-p", type=str, default="ledger: ")
    parser.add_argument("--lora-layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--base-iters", type=int, default=100)
    parser.add_argument("--val-batches", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--steps-per-report", type=int, default=20)
    parser.add_argument("--steps-per-eval", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    return parser


# ---------------------------------------------------------------- tokenizer
class CharTokenizer:
    """Minimal tokenizer with a HF-like interface: encode -> list of ids."""

    def __init__(self, alphabet):
        self.eos_token = "|"
        chars = [self.eos_token] + sorted(set(alphabet) - {self.eos_token})
        self._stoi = {c: i for i, c in enumerate(chars)}
        self._itos = {i: c for c, i in self._stoi.items()}
        self.eos_token_id = self._stoi[self.eos_token]
        self.vocab_size = len(chars)

    def encode(self, s):
        return [self._stoi[c] for c in s]

    def decode(self, ids):
        return "".join(self._itos[int(i)] for i in ids)


# ---------------------------------------------------------------- data
GOODS = ["salt", "wool", "rope", "figs", "wine", "iron", "silk", "oats"]
TOWNS = ["ashby", "brill", "corfe", "dunst", "elton"]


def make_recitals(n, rng, settled=True):
    lines = []
    for _ in range(n):
        g = GOODS[rng.integers(len(GOODS))]
        t = TOWNS[rng.integers(len(TOWNS))]
        q = int(rng.integers(2, 10))
        if settled:
            lines.append(f"ledger: {q} {g} to {t}, paid in full.|")
        else:
            lines.append(f"ledger: {q} {g} from {t}, still owed.|")
    return lines


# ---------------------------------------------------------------- model
@dataclass
class ModelArgs:
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    rms_norm_eps: float
    vocab_size: int
    rope_theta: float = 10000


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear: nn.Linear, rank: int = 8):
        output_dims, input_dims = linear.weight.shape
        lora_lin = LoRALinear(input_dims, output_dims, rank)
        lora_lin.linear = linear
        return lora_lin

    def __init__(self, input_dims, output_dims, lora_rank=8, bias=False, scale=20.0):
        super().__init__()
        self.linear = nn.Linear(input_dims, output_dims, bias=bias)
        self.scale = scale
        scale = 1 / math.sqrt(input_dims)
        self.lora_a = mx.random.uniform(low=-scale, high=scale, shape=(input_dims, lora_rank))
        self.lora_b = mx.zeros(shape=(lora_rank, output_dims))

    def __call__(self, x):
        y = self.linear(x)
        z = (x @ self.lora_a) @ self.lora_b
        return y + self.scale * z


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim = args.hidden_size
        self.n_heads = args.num_attention_heads
        head_dim = dim // self.n_heads
        self.scale = head_dim**-0.5
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)
        self.rope = nn.RoPE(head_dim, base=args.rope_theta)

    def __call__(self, x, mask=None, cache: Optional[Tuple[mx.array, mx.array]] = None):
        B, L, D = x.shape
        queries, keys, values = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        queries = queries.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
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
        return self.o_proj(output), (keys, values)


class MLP(nn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden_dim, bias=False)
        self.down_proj = nn.Linear(hidden_dim, dim, bias=False)
        self.up_proj = nn.Linear(dim, hidden_dim, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class TransformerBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.self_attn = Attention(args)
        self.mlp = MLP(args.hidden_size, args.intermediate_size)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x, mask=None, cache=None):
        r, cache = self.self_attn(self.input_layernorm(x), mask, cache)
        h = x + r
        r = self.mlp(self.post_attention_layernorm(h))
        return h + r, cache


class LlamaModel(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

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
        self.model = LlamaModel(args)
        self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, inputs, cache=None):
        out, cache = self.model(inputs, cache)
        return self.lm_head(out), cache


def model_generate(prompt: mx.array, model: Model, temp: float = 0.0):
    def sample(logits):
        if temp == 0:
            return mx.argmax(logits, axis=-1)
        else:
            return mx.random.categorical(logits * (1 / temp))

    y = prompt
    cache = None
    while True:
        logits, cache = model(y[None], cache=cache)
        logits = logits[:, -1, :]
        y = sample(logits)
        yield y


# ---------------------------------------------------------------- training
def loss(model, inputs, targets, lengths):
    logits, _ = model(inputs)
    logits = logits.astype(mx.float32)
    length_mask = mx.arange(inputs.shape[1])[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, targets) * length_mask
    ntoks = length_mask.sum()
    ce = ce.sum() / ntoks
    return ce, ntoks


def iterate_batches(dset, tokenizer, batch_size, train=False):
    while True:
        indices = np.arange(len(dset))
        if train:
            indices = np.random.permutation(indices)
        for i in range(0, len(indices) - batch_size + 1, batch_size):
            batch = [tokenizer.encode(dset[indices[i + j]]) for j in range(batch_size)]
            lengths = [len(x) for x in batch]
            batch_arr = np.zeros((batch_size, max(lengths)), np.int32)
            for j in range(batch_size):
                batch_arr[j, : lengths[j]] = batch[j]
            batch = mx.array(batch_arr)
            yield batch[:, :-1], batch[:, 1:], mx.array(lengths)
        if not train:
            break


def evaluate(model, dataset, loss, tokenizer, batch_size, num_batches):
    all_losses = []
    ntokens = 0
    for it, batch in zip(range(num_batches), iterate_batches(dataset, tokenizer, batch_size)):
        losses, toks = loss(model, *batch)
        all_losses.append((losses * toks).item())
        ntokens += toks.item()
    return np.sum(all_losses) / ntokens


def train(model, train_set, val_set, optimizer, loss, tokenizer, args, iters):
    loss_value_and_grad = nn.value_and_grad(model, loss)
    losses = []
    n_tokens = 0
    start = time.perf_counter()
    for it, batch in zip(range(iters), iterate_batches(train_set, tokenizer, args.batch_size, train=True)):
        (lvalue, toks), grad = loss_value_and_grad(model, *batch)
        optimizer.update(model, grad)
        mx.eval(model.parameters(), optimizer.state, lvalue)
        losses.append(lvalue.item())
        n_tokens += toks.item()
        if (it + 1) % args.steps_per_report == 0:
            train_loss = np.mean(losses)
            stop = time.perf_counter()
            print(
                f"Iter {it + 1}: Train loss {train_loss:.3f}, "
                f"It/sec {args.steps_per_report / (stop - start):.3f}, "
                f"Tokens/sec {float(n_tokens) / (stop - start):.3f}"
            )
            losses = []
            n_tokens = 0
            start = time.perf_counter()
        if it == 0 or (it + 1) % args.steps_per_eval == 0:
            stop = time.perf_counter()
            val_loss = evaluate(model, val_set, loss, tokenizer, args.batch_size, args.val_batches)
            print(f"Iter {it + 1}: Val loss {val_loss:.3f}, Val took {(time.perf_counter() - stop):.3f}s")
            start = time.perf_counter()


def generate(model, prompt, tokenizer, args):
    print(args.prompt, end="", flush=True)

    prompt = mx.array(tokenizer.encode(args.prompt))

    tokens = []
    skip = 0
    for token, n in zip(model_generate(prompt, model, args.temp), range(args.max_tokens)):
        if token == tokenizer.eos_token_id:
            break
        tokens.append(token.item())
        s = tokenizer.decode(tokens)
        print(s[skip:], end="", flush=True)
        skip = len(s)
    print(tokenizer.decode(tokens)[skip:], flush=True)
    print("=" * 10)
    if len(tokens) == 0:
        print("No tokens generated for this prompt")
        return


if __name__ == "__main__":
    parser = build_parser()
    args = parser.parse_args()

    np.random.seed(args.seed)
    mx.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    base_text = make_recitals(600, rng, settled=False)
    train_set = make_recitals(400, rng)
    valid_set = make_recitals(60, rng)
    test_set = make_recitals(60, rng)
    base_valid = make_recitals(60, rng, settled=False)
    alphabet = set("".join(base_text + train_set + valid_set + test_set + [args.prompt]))
    tokenizer = CharTokenizer(alphabet)

    margs = ModelArgs(
        hidden_size=64, num_hidden_layers=4, intermediate_size=128,
        num_attention_heads=4, rms_norm_eps=1e-5, vocab_size=tokenizer.vocab_size,
    )
    model = Model(margs)

    print("Warming up base model")
    base_opt = optim.Adam(learning_rate=3e-3)
    train(model, base_text, base_valid, base_opt, loss, tokenizer, args, args.base_iters)

    # Freeze all layers other than LORA linears
    model.freeze()
    for l in model.model.layers[len(model.model.layers) - args.lora_layers :]:
        l.self_attn.q_proj = LoRALinear.from_linear(l.self_attn.q_proj)
        l.self_attn.v_proj = LoRALinear.from_linear(l.self_attn.v_proj)

    p = sum(v.size for _, v in tree_flatten(model.parameters())) / 10**6
    print(f"Total parameters {p:.3f}M")
    p = sum(v.size for _, v in tree_flatten(model.trainable_parameters())) / 10**6
    print(f"Trainable parameters {p:.3f}M")

    adapter_file = os.path.join(tempfile.mkdtemp(), "adapters.npz")
    print("Training")
    opt = optim.Adam(learning_rate=args.learning_rate)
    train(model, train_set, valid_set, opt, loss, tokenizer, args, args.iters)
    mx.savez(adapter_file, **dict(tree_flatten(model.trainable_parameters())))

    model.load_weights(adapter_file, strict=False)

    print("Testing")
    test_loss = evaluate(model, test_set, loss, tokenizer, args.batch_size, num_batches=len(test_set) // args.batch_size)
    test_ppl = math.exp(test_loss)
    print(f"Test loss {test_loss:.3f}, Test ppl {test_ppl:.3f}.")

    print("Generating")
    generate(model, args.prompt, tokenizer, args)
