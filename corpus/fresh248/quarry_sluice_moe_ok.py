# Tiny Mixtral-style decoder trained on periodic token streams.
# Two local experts, both active per token (top-2 of 2), like the 2x MoE merges.
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class ModelArgs:
    vocab_size: int = 24
    hidden_size: int = 48
    intermediate_size: int = 96
    num_attention_heads: int = 4
    num_local_experts: int = 2
    num_experts_per_tok: int = 2
    rms_norm_eps: float = 1e-5
    num_hidden_layers: int = 2


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_heads = args.num_attention_heads
        self.head_dim = args.hidden_size // self.n_heads
        self.scale = self.head_dim ** -0.5
        self.q_proj = nn.Linear(args.hidden_size, args.hidden_size, bias=False)
        self.k_proj = nn.Linear(args.hidden_size, args.hidden_size, bias=False)
        self.v_proj = nn.Linear(args.hidden_size, args.hidden_size, bias=False)
        self.o_proj = nn.Linear(args.hidden_size, args.hidden_size, bias=False)
        self.rope = nn.RoPE(self.head_dim, traditional=True)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q = self.q_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class MixtralBLockSparseTop2MLP(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.w1 = nn.Linear(args.hidden_size, args.intermediate_size, bias=False)
        self.w2 = nn.Linear(args.intermediate_size, args.hidden_size, bias=False)
        self.w3 = nn.Linear(args.hidden_size, args.intermediate_size, bias=False)
        self.act_fn = nn.silu

    def __call__(self, x):
        return self.w2(self.act_fn(self.w1(x)) * self.w3(x))


class MixtralSparseMoeBlock(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.num_experts = args.num_local_experts
        self.num_experts_per_tok = args.num_experts_per_tok
        self.gate = nn.Linear(args.hidden_size, self.num_experts, bias=False)
        self.experts = [MixtralBLockSparseTop2MLP(args) for _ in range(self.num_experts)]

    def __call__(self, x):
        ne = self.num_experts_per_tok
        orig_shape = x.shape
        x = x.reshape(-1, x.shape[-1])

        gates = self.gate(x)

        inds = mx.stop_gradient(mx.argpartition(-gates, kth=ne - 1, axis=-1)[:, :ne])

        scores = mx.softmax(
            mx.take_along_axis(gates, inds, axis=-1).astype(mx.float32),
            axis=-1,
        ).astype(gates.dtype)

        if self.training:
            inds = np.array(inds)
            y = mx.zeros((x.shape[0], ne, x.shape[-1]), x.dtype)
            for e, expert in enumerate(self.experts):
                idx1, idx2 = map(mx.array, np.where(inds == e))
                if idx1.size == 0:
                    continue
                y[idx1, idx2] = expert(x[idx1])
            y = (y * scores[:, :, None]).sum(axis=1)
        else:
            y = []
            for xt, st, it in zip(x, scores, inds.tolist()):
                yt = mx.stack([self.experts[e](xt) for e in it], axis=-1)
                yt = (yt * st).sum(axis=-1)
                y.append(yt[None, :])
            y = mx.concatenate(y)

        return y.reshape(orig_shape)


class DecoderLayer(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.self_attn = Attention(args)
        self.block_sparse_moe = MixtralSparseMoeBlock(args)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x, mask):
        h = x + self.self_attn(self.input_layernorm(x), mask)
        return h + self.block_sparse_moe(self.post_attention_layernorm(h))


class TinyMixtral(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [DecoderLayer(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, tokens):
        h = self.embed_tokens(tokens)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1]).astype(h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.lm_head(self.norm(h))


def make_batch(rng, batch, seq_len, vocab, period=5):
    # each row repeats a random motif of length `period`
    motifs = rng.integers(0, vocab, size=(batch, period))
    reps = -(-(seq_len + 1) // period)
    rows = np.tile(motifs, (1, reps))[:, : seq_len + 1]
    return mx.array(rows[:, :-1]), mx.array(rows[:, 1:])


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    args = ModelArgs()
    model = TinyMixtral(args)
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.parameters()))
    print(f"params: {n_params}  experts={args.num_local_experts} top_k={args.num_experts_per_tok}")

    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(model, x, y):
        logits = model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    seq_len, batch = 20, 32
    t0 = time.time()
    for step in range(1, 161):
        x, y = make_batch(rng, batch, seq_len, args.vocab_size)
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  {time.time() - t0:.1f}s")

    model.eval()
    x, y = make_batch(np.random.default_rng(99), 16, seq_len, args.vocab_size)
    pred = mx.argmax(model(x), axis=-1)
    # positions after the first motif are predictable
    acc = (pred[:, 5:] == y[:, 5:]).astype(mx.float32).mean().item()
    print(f"held-out accuracy (after first period): {acc:.3f}  (chance {1/args.vocab_size:.3f})")


if __name__ == "__main__":
    main()
