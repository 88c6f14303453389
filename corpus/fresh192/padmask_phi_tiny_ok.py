# Tiny phi3-style decoder fine-tuned on padded batches of modular sequences.
# The training loop passes the batch padding mask into the model, as a VLM trainer does.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
V, D, H, LAYERS, MAXLEN, BATCH = 29, 48, 4, 2, 17, 24


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv_proj = nn.Linear(D, 3 * D, bias=False)
        self.o_proj = nn.Linear(D, D, bias=False)
        self.rope = nn.RoPE(D // H)
        self.scale = (D // H) ** -0.5

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv_proj(x), 3, axis=-1)
        q = self.rope(q.reshape(B, L, H, -1).transpose(0, 2, 1, 3))
        k = self.rope(k.reshape(B, L, H, -1).transpose(0, 2, 1, 3))
        v = v.reshape(B, L, H, -1).transpose(0, 2, 1, 3)
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = Attention()
        self.input_layernorm = nn.RMSNorm(D)
        self.post_attention_layernorm = nn.RMSNorm(D)
        self.gate_up = nn.Linear(D, 4 * D, bias=False)
        self.down = nn.Linear(2 * D, D, bias=False)

    def __call__(self, x, mask):
        h = x + self.self_attn(self.input_layernorm(x), mask)
        g, u = mx.split(self.gate_up(self.post_attention_layernorm(h)), 2, axis=-1)
        return h + self.down(nn.silu(g) * u)


class Phi3Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(V, D)
        self.layers = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(D)
        self.lm_head = nn.Linear(D, V, bias=False)

    def __call__(self, inputs, mask=None):
        h = self.embed_tokens(inputs)
        if mask is None:
            mask = "causal"
        else:
            seq_len = h.shape[-2]
            causal_mask = mx.tril(mx.ones((seq_len, seq_len), dtype=mx.bool_))
            mask = (mask & causal_mask) > 0
        for layer in self.layers:
            h = layer(h, mask)
        return self.lm_head(self.norm(h))


def make_batch(n):
    # x_t = x_{t-1} + step (mod V); random start, random step, random length, right padded
    start = mx.random.randint(0, V, (n, 1))
    step = mx.random.randint(1, V, (n, 1))
    seq = (start + step * mx.arange(MAXLEN)[None, :]) % V
    lengths = mx.random.randint(8, MAXLEN + 1, (n, 1))
    valid = mx.arange(MAXLEN)[None, :] < lengths
    seq = mx.where(valid, seq, 0)
    return seq, valid


def loss_fn(model, seq, valid, use_pad_mask):
    inputs, targets = seq[:, :-1], seq[:, 1:]
    pad = valid[:, :-1][:, None, None, :] if use_pad_mask else None
    logits = model(inputs, pad)
    w = valid[:, 1:].astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    # positions 0 and 1 cannot be predicted from the past; score from position 2 on
    w = w * (mx.arange(MAXLEN - 1)[None, :] >= 1)
    return (ce * w).sum() / w.sum()


model = Phi3Tiny()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
grad_fn = nn.value_and_grad(model, lambda m, s, v: loss_fn(m, s, v, True))

eval_seq, eval_valid = make_batch(128)
t0 = time.time()
for step in range(1, 151):
    seq, valid = make_batch(BATCH)
    loss, grads = grad_fn(model, seq, valid)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        # held-out check the way the model is used at generation time: causal mask only
        gen_loss = loss_fn(model, eval_seq, eval_valid, False)
        logits = model(eval_seq[:, :-1])
        pred = logits.argmax(-1)
        w = eval_valid[:, 1:] & (mx.arange(MAXLEN - 1)[None, :] >= 1)
        acc = ((pred == eval_seq[:, 1:]) & w).sum() / w.sum()
        mx.eval(gen_loss, acc)
        print(f"step {step:4d} | train_ce {loss.item():.4f} | heldout_causal_ce {gen_loss.item():.4f}"
              f" | next_tok_acc {100 * acc.item():5.1f}% | {time.time() - t0:5.1f}s")
print(f"final heldout_causal_ce={gen_loss.item():.4f} acc={100 * acc.item():.1f}% (chance {100 / V:.1f}%)")
