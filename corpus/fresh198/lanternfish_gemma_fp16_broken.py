# Fine-tune a tiny Gemma-3 style decoder in float16 on a synthetic
# "skip-count" language (next token = previous token + stride mod V).
# The embedding table and norms come from a "pretrained" checkpoint and are
# frozen; attention / MLP / head are tuned.  The checkpoint has one
# massive-activation channel (as real Gemma checkpoints do).
from functools import partial
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V, D, H, T, B = 32, 32, 2, 10, 16
BOS = V - 1
mx.random.seed(3)


class RMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-6):
        super().__init__()
        self.weight = mx.zeros((dims,))
        self.eps = eps

    def __call__(self, x):
        return mx.fast.rms_norm(x, 1.0 + self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(D, D, bias=False)
        self.k_proj = nn.Linear(D, D, bias=False)
        self.v_proj = nn.Linear(D, D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)
        self.rope = nn.RoPE(D // H, base=10000)

    def __call__(self, x, mask):
        b, t, _ = x.shape
        q = self.q_proj(x).reshape(b, t, H, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(b, t, H, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(b, t, H, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // H) ** -0.5, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(b, t, -1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate_proj = nn.Linear(D, 2 * D, bias=False)
        self.up_proj = nn.Linear(D, 2 * D, bias=False)
        self.down_proj = nn.Linear(2 * D, D, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.gelu_approx(self.gate_proj(x)) * self.up_proj(x))


class TransformerBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.mlp = MLP()
        self.input_layernorm = RMSNorm(D)
        self.post_attention_layernorm = RMSNorm(D)
        self.pre_feedforward_layernorm = RMSNorm(D)
        self.post_feedforward_layernorm = RMSNorm(D)

    def __call__(self, x, mask):
        r = self.self_attn(self.input_layernorm(x), mask)
        h = x + self.post_attention_layernorm(r)
        r = self.mlp(self.pre_feedforward_layernorm(h))
        out = h + self.post_feedforward_layernorm(r)
        return out


class TinyGemma(nn.Module):
    def __init__(self, n_layers=2):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, D)
        self.layers = [TransformerBlock() for _ in range(n_layers)]
        self.norm = RMSNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)

    def __call__(self, tokens):
        h = self.embed_tokens(tokens) * mx.array(D ** 0.5, dtype=mx.float16)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1]).astype(h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.lm_head(self.norm(h))


def load_pretrained(model):
    # stand-in for a real checkpoint: small random embeddings, except that the
    # BOS token carries a massive "attention sink" activation in channel 0 at
    # the top of the fp16 range; the post-norms of that channel have large gains
    emb = 0.5 * mx.random.normal((V, D))
    emb[BOS, 0] = 65504.0 / D ** 0.5
    model.embed_tokens.weight = emb
    for layer in model.layers:
        for nm in (layer.post_attention_layernorm, layer.post_feedforward_layernorm):
            w = mx.zeros((D,))
            w[0] = 60.0
            nm.weight = w


def batch(step):
    key = mx.random.key(step)
    k1, k2 = mx.random.split(key)
    start = mx.random.randint(0, V, (B, 1), key=k1)
    stride = mx.random.randint(1, 4, (B, 1), key=k2)
    seq = (start + stride * mx.arange(T)[None, :]) % (V - 1)
    seq = mx.concatenate([mx.full((B, 1), BOS), seq], axis=1)
    return seq[:, :-1], seq[:, 1:]


model = TinyGemma()
load_pretrained(model)
model.set_dtype(mx.float16)
model.freeze(keys=["embed_tokens"])
for layer in model.layers:
    for nm in (layer.input_layernorm, layer.post_attention_layernorm,
               layer.pre_feedforward_layernorm, layer.post_feedforward_layernorm):
        nm.freeze()
model.norm.freeze()


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


opt = optim.SGD(learning_rate=0.05, momentum=0.9)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for step in range(1, 401):
    x, y = batch(step)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 40 == 0 or step == 1:
        xv, yv = batch(10_000)
        acc = (mx.argmax(model(xv), axis=-1) == yv).astype(mx.float32).mean().item()
        print(f"it {step:4d} | ce {loss.item():.4f} | heldout next-tok acc {acc:.3f} | {time.time()-t0:.1f}s")
print("done")
