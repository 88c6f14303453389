"""Tide-gauge telemetry model for the estuary network.

Each gauge frame is a stride marker followed by water-level codes that step
by that stride (mod 40).  A small Gemma-2 style decoder (grouped-query
attention, rotary positions, logit soft-capping) learns to continue frames.

Stage 1 uses full-length frames; stage 2 uses ragged frames that are
right-padded and masked per example.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

PAD = 0
N_LEVELS = 40
N_STRIDES = 7
VOCAB = 1 + N_LEVELS + N_STRIDES
MAX_LEN = 24


class RMSNorm(nn.Module):
    def __init__(self, dims: int, eps: float = 1e-6):
        super().__init__()
        self.weight = mx.zeros((dims,))
        self.eps = eps

    def __call__(self, x):
        return mx.fast.rms_norm(x, 1.0 + self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads, head_dim, softcap=50.0, pre_attn_scalar=12.0):
        super().__init__()
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.repeats = n_heads // n_kv_heads
        self.head_dim = head_dim
        self.scale = 1.0 / (pre_attn_scalar ** 0.5)
        self.q_proj = nn.Linear(dim, n_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(dim, n_kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(n_heads * head_dim, dim, bias=False)
        self.attn_logit_softcapping = softcap
        self.rope = nn.RoPE(head_dim, traditional=False, base=10000)

    def __call__(self, x, mask=None):
        B, L, D = x.shape
        queries, keys, values = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        queries = queries.reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        keys = keys.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)
        values = values.reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)

        queries = self.rope(queries)
        keys = self.rope(keys)

        queries = queries * self.scale

        if self.repeats > 1:
            queries = queries.reshape(B, self.n_kv_heads, self.repeats, L, self.head_dim)
            keys = mx.expand_dims(keys, 2)
            values = mx.expand_dims(values, 2)

        scores = queries @ keys.swapaxes(-1, -2)
        scores = mx.tanh(scores / self.attn_logit_softcapping)
        scores *= self.attn_logit_softcapping

        if mask is not None:
            if mask.dtype == mx.bool_:
                scores = mx.where(mask, scores, mx.array(mx.finfo(scores.dtype).min, scores.dtype))
            else:
                scores = scores + mask
        scores = mx.softmax(scores, precise=True, axis=-1)
        output = scores @ values
        if self.repeats > 1:
            output = output.reshape(B, self.n_heads, L, self.head_dim)
        output = output.transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.o_proj(output)


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.gelu_approx(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, dim, n_heads, n_kv_heads, head_dim, hidden):
        super().__init__()
        self.self_attn = Attention(dim, n_heads, n_kv_heads, head_dim)
        self.mlp = MLP(dim, hidden)
        self.input_layernorm = RMSNorm(dim)
        self.post_attention_layernorm = RMSNorm(dim)
        self.pre_feedforward_layernorm = RMSNorm(dim)
        self.post_feedforward_layernorm = RMSNorm(dim)

    def __call__(self, x, mask=None):
        r = self.self_attn(self.input_layernorm(x), mask)
        h = x + self.post_attention_layernorm(r)
        r = self.mlp(self.pre_feedforward_layernorm(h))
        return h + self.post_feedforward_layernorm(r)


class TideLM(nn.Module):
    def __init__(self, vocab=VOCAB, dim=48, layers=2, n_heads=4, n_kv_heads=2, head_dim=12, hidden=96,
                 final_softcap=30.0):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab, dim)
        self.layers = [Block(dim, n_heads, n_kv_heads, head_dim, hidden) for _ in range(layers)]
        self.norm = RMSNorm(dim)
        self.final_softcap = final_softcap
        self.dim = dim

    def __call__(self, tokens, mask=None):
        h = self.embed_tokens(tokens) * (self.dim ** 0.5)
        for layer in self.layers:
            h = layer(h, mask)
        logits = self.embed_tokens.as_linear(self.norm(h))
        return mx.tanh(logits / self.final_softcap) * self.final_softcap


def make_frames(rng, n, ragged):
    toks = np.zeros((n, MAX_LEN), dtype=np.int32)
    lens = rng.integers(12, MAX_LEN + 1, size=n) if ragged else np.full(n, MAX_LEN)
    for i in range(n):
        s = rng.integers(1, N_STRIDES + 1)
        a0 = rng.integers(0, N_LEVELS)
        lv = (a0 + s * np.arange(lens[i] - 1)) % N_LEVELS
        toks[i, 0] = N_LEVELS + s
        toks[i, 1:lens[i]] = lv + 1
    return mx.array(toks), mx.array(lens.astype(np.int32))


def causal_mask(L):
    idx = mx.arange(L)
    return idx[:, None] >= idx[None]


def padded_mask(lens, L):
    idx = mx.arange(L)
    keep = idx[None, :] < lens[:, None]  # (B, L) real keys
    return causal_mask(L)[None, None] & keep[:, None, None, :]  # (B, 1, L, L)


def loss_fn(model, toks, lens, mask):
    logits = model(toks[:, :-1], mask)
    targets = toks[:, 1:]
    valid = (mx.arange(MAX_LEN - 1)[None, :] + 1) < lens[:, None]
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    return (ce * valid).sum() / valid.sum()


def accuracy(model, toks, lens, mask):
    logits = model(toks[:, :-1], mask)
    pred = logits.argmax(-1)
    valid = (mx.arange(MAX_LEN - 1)[None, :] + 1) < lens[:, None]
    # skip the first level code (it cannot be predicted from the marker alone)
    valid = valid & (mx.arange(MAX_LEN - 1)[None, :] >= 1)
    return ((pred == toks[:, 1:]) * valid).sum().item() / valid.sum().item()


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = TideLM()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    val_full = make_frames(rng, 128, ragged=False)
    val_rag = make_frames(rng, 128, ragged=True)
    L = MAX_LEN - 1
    print(f"vocab {VOCAB}  frame len {MAX_LEN}  chance loss {np.log(VOCAB):.3f}")

    stages = [("full frames", False, 80), ("ragged frames", True, 80)]
    batch = 12
    t0 = time.time()
    gstep = 0
    for name, ragged, n_steps in stages:
        print(f"-- stage: {name} ({n_steps} steps, batch {batch})")
        for step in range(1, n_steps + 1):
            toks, lens = make_frames(rng, batch, ragged)
            mask = padded_mask(lens, L) if ragged else causal_mask(L)
            loss, grads = step_fn(model, toks, lens, mask)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            gstep += 1
            if step % 20 == 0:
                vt, vl = val_rag if ragged else val_full
                vmask = padded_mask(vl, L) if ragged else causal_mask(L)
                vloss = loss_fn(model, vt, vl, vmask).item()
                vacc = accuracy(model, vt, vl, vmask)
                print(f"step {gstep:4d}  loss {loss.item():.4f}  val_loss {vloss:.4f}  "
                      f"val_acc {100 * vacc:5.1f}%  {time.time() - t0:.1f}s")
    vt, vl = val_rag
    print(f"final ragged val_acc {100 * accuracy(model, vt, vl, padded_mask(vl, L)):.1f}%")


if __name__ == "__main__":
    main()
