"""Stage-local LoRA fine-tune of a small causal LM through a PipelineSlice wrapper.

Stage 1 pretrains a tiny llama-style LM (untied lm_head) on a synthetic token language.
Stage 2 wraps the whole layer range in a PipelineSlice (the same wrapper the pipeline
trainer uses per rank; here one process owns every layer) and LoRA-fine-tunes the
attention q/v projections on fresh text of the same language.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

VOCAB = 48
DIM = 64
HEADS = 4
N_LAYERS = 2
SEQ = 16


# ----------------------------------------------------------------- model (mlx-lm style)
class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dim)
        self.self_attn = nn.MultiHeadAttention(dim, heads)
        self.post_attention_layernorm = nn.RMSNorm(dim)
        self.up_proj = nn.Linear(dim, 2 * dim, bias=False)
        self.down_proj = nn.Linear(2 * dim, dim, bias=False)

    def __call__(self, h, mask, cache=None):
        x = self.input_layernorm(h)
        h = h + self.self_attn(x, x, x, mask)
        x = self.post_attention_layernorm(h)
        return h + self.down_proj(nn.silu(self.up_proj(x)))


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM, HEADS) for _ in range(N_LAYERS)]
        self.norm = nn.RMSNorm(DIM)

    def __call__(self, tokens):
        h = self.embed_tokens(tokens)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1])
        for layer in self.layers:
            h = layer(h, mask)
        return self.norm(h)


class CausalLM(nn.Module):
    """tie_word_embeddings = False: the output projection is its own matrix."""

    def __init__(self):
        super().__init__()
        self.model = Inner()
        self.lm_head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, tokens):
        return self.lm_head(self.model(tokens))


# ----------------------------------------------------------------- pipeline slice
class PipelineSlice(nn.Module):
    """Expose the layers [start, end) of a loaded model; the last slice returns logits."""

    def __init__(self, full_model, start, end):
        super().__init__()
        inner = full_model.model
        self.start, self.end = start, end
        self.total = len(inner.layers)
        if start == 0:
            self.tok_embeddings = inner.embed_tokens
        self.layers = inner.layers[start:end]
        if end == self.total:
            self.norm = inner.norm
            self.lm_head = inner.embed_tokens.as_linear
        self.hidden_size = int(inner.norm.weight.shape[0])

    def __call__(self, tokens, input_embeddings=None):
        h = self.tok_embeddings(tokens) if tokens is not None else input_embeddings
        mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1])
        for layer in self.layers:
            h = layer(h, mask)
        if hasattr(self, "norm"):
            h = self.lm_head(self.norm(h))
        return h


# ----------------------------------------------------------------- LoRA
class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, scale=2.0):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.linear = base
        self.scale = scale
        bound = 1.0 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, rank))
        self.lora_b = mx.zeros((rank, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def attach_lora(model, rank=4):
    model.freeze()
    for layer in model.layers:
        attn = layer.self_attn
        attn.query_proj = LoRALinear(attn.query_proj, rank)
        attn.value_proj = LoRALinear(attn.value_proj, rank)


# ----------------------------------------------------------------- data
def make_corpus(rng, n, mult, shift):
    """Token t+1 = (mult * t + shift) % VOCAB, with 5% random tokens mixed in."""
    seqs = np.empty((n, SEQ + 1), dtype=np.int32)
    seqs[:, 0] = rng.integers(0, VOCAB, n)
    for t in range(SEQ):
        nxt = (mult * seqs[:, t] + shift) % VOCAB
        noise = rng.random(n) < 0.05
        nxt[noise] = rng.integers(0, VOCAB, noise.sum())
        seqs[:, t + 1] = nxt
    return seqs


def batches(data, bs, rng):
    idx = rng.permutation(len(data))
    for i in range(0, len(idx) - bs + 1, bs):
        yield mx.array(data[idx[i:i + bs]])


def lm_loss(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


def run_stage(model, data, epochs, lr, tag, rng, bs=32):
    opt = optim.Adam(learning_rate=lr)
    step_fn = nn.value_and_grad(model, lm_loss)
    step = 0
    for ep in range(epochs):
        losses = []
        for batch in batches(data, bs, rng):
            loss, grads = step_fn(model, batch)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
            step += 1
        print(f"[{tag}] epoch {ep + 1:2d}/{epochs}  steps {step:4d}  "
              f"loss {np.mean(losses):.4f}  ppl {math.exp(np.mean(losses)):8.2f}")


def evaluate(model, data):
    loss = lm_loss(model, mx.array(data))
    return loss.item()


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    t0 = time.time()

    # stage 1: base model
    base = CausalLM()
    pre = make_corpus(rng, 1024, mult=5, shift=3)
    run_stage(base, pre, epochs=6, lr=3e-3, tag="pretrain", rng=rng)
    print(f"base model held-out loss {evaluate(base, make_corpus(rng, 256, 5, 3)):.4f}")

    # stage 2: LoRA fine-tune of the whole layer range through the pipeline slice
    stage = PipelineSlice(base, 0, N_LAYERS)
    attach_lora(stage)
    n_train = sum(v.size for _, v in nn.utils.tree_flatten(stage.trainable_parameters()))
    print(f"LoRA trainable params: {n_train}")

    ft = make_corpus(rng, 512, mult=5, shift=3)
    val = make_corpus(rng, 256, mult=5, shift=3)
    print(f"[finetune] before: val loss {evaluate(stage, val):.4f}")
    run_stage(stage, ft, epochs=6, lr=1e-3, tag="finetune", rng=rng)
    final = evaluate(stage, val)
    print(f"[finetune] after: val loss {final:.4f}  ppl {math.exp(final):.2f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
