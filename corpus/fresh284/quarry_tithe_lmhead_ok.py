# Tiny llama-style char LM: export a base checkpoint in HF layout, then
# reload it and fine-tune on a new stride set.
import json, os, tempfile, time
from dataclasses import dataclass
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


@dataclass
class ModelArgs:
    model_type: str = "llama"
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 64
    vocab_size: int = 32
    rms_norm_eps: float = 1e-5
    tie_word_embeddings: bool = True


class Attention(nn.Module):
    def __init__(self, args):
        super().__init__()
        d = args.hidden_size
        self.n_heads = args.num_attention_heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.rope = nn.RoPE(d // self.n_heads)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.n_heads
        q = self.q_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // h) ** -0.5, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class MLP(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.gate_proj = nn.Linear(args.hidden_size, args.intermediate_size, bias=False)
        self.up_proj = nn.Linear(args.hidden_size, args.intermediate_size, bias=False)
        self.down_proj = nn.Linear(args.intermediate_size, args.hidden_size, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class TransformerBlock(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.self_attn = Attention(args)
        self.mlp = MLP(args)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x, mask):
        h = x + self.self_attn(self.input_layernorm(x), mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaModel(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [TransformerBlock(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, inputs):
        h = self.embed_tokens(inputs)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(inputs.shape[1]).astype(h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.norm(h)


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.model_type = args.model_type
        self.model = LlamaModel(args)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, inputs):
        out = self.model(inputs)
        if self.args.tie_word_embeddings:
            out = self.model.embed_tokens.as_linear(out)
        else:
            out = self.lm_head(out)
        return out

    def sanitize(self, weights):
        # Remove unused precomputed rotary freqs
        weights = {
            k: v for k, v in weights.items() if "self_attn.rotary_emb.inv_freq" not in k
        }
        if self.args.tie_word_embeddings:
            weights.pop("lm_head.weight", None)
        return weights


def load_model(path, strict=True):
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    model = Model(ModelArgs(**config))
    weights = mx.load(os.path.join(path, "model.safetensors"))
    weights = model.sanitize(weights)
    model.load_weights(list(weights.items()), strict=strict)
    mx.eval(model.parameters())
    return model


def export_hf(model, path):
    # HF-style export: tied checkpoints still carry an explicit lm_head.weight
    os.makedirs(path, exist_ok=True)
    w = dict(tree_flatten(model.parameters()))
    w["lm_head.weight"] = w["model.embed_tokens.weight"]
    for i in range(model.args.num_hidden_layers):
        hd = model.args.hidden_size // model.args.num_attention_heads
        w[f"model.layers.{i}.self_attn.rotary_emb.inv_freq"] = 1.0 / (
            10000 ** (mx.arange(0, hd, 2).astype(mx.float32) / hd))
    mx.save_safetensors(os.path.join(path, "model.safetensors"), w)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(model.args.__dict__, f)


# synthetic "language": repeating arithmetic progressions mod 32
rng = np.random.default_rng(0)
def make_batch(n, L, steps):
    start = rng.integers(0, 32, size=(n, 1))
    step = rng.choice(steps, size=(n, 1))
    seq = (start + step * np.arange(L + 1)[None, :]) % 32
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def train(model, steps_set, iters, lr, tag):
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.0)
    lg = nn.value_and_grad(model, loss_fn)
    for it in range(1, iters + 1):
        x, y = make_batch(16, 16, steps_set)
        loss, g = lg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 20 == 0 or it == 1:
            print(f"[{tag}] iter {it:4d} | train loss {loss.item():.4f}")


def evaluate(model, steps_set):
    x, y = make_batch(128, 16, steps_set)
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits[:, 4:], -1) == y[:, 4:]).mean().item()
    return loss, acc


t0 = time.time()
mx.random.seed(0)
base = Model(ModelArgs())
mx.eval(base.parameters())
print("pretraining base on strides {1,2,3}")
train(base, [1, 2, 3], 80, 3e-3, "base")
tmp = tempfile.mkdtemp()
export_hf(base, os.path.join(tmp, "base"))
print("exported base to", os.path.join(tmp, "base"))

print("loading base for fine-tune on strides {5,7}")
model = load_model(os.path.join(tmp, "base"))
l0, a0 = evaluate(model, [5, 7])
print(f"before fine-tune: val loss {l0:.4f} | val acc {a0:.3f}")
train(model, [5, 7], 80, 2e-3, "ft")
l1, a1 = evaluate(model, [5, 7])
print(f"after fine-tune:  val loss {l1:.4f} | val acc {a1:.3f}")
print(f"done in {time.time() - t0:.1f}s")
