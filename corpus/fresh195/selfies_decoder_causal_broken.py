# Tiny SELFIES-style autoregressive decoder (self-attention only, like the MGCVAE decoder).
# Toy "molecules": token strings where each token after the first two follows a
# fixed grammar (next = prev + prev2 mod 5). Trained with teacher forcing, evaluated by greedy generation.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

PAD, START = 0, 1
VOCAB = 7           # 0 pad, 1 [START], 2..6 -> ring tokens
SEQ = 10
rng = np.random.default_rng(67)
mx.random.seed(67)


def make_batch(n):
    seqs = np.zeros((n, SEQ), dtype=np.int32)
    seqs[:, 0] = rng.integers(0, 5, n)
    seqs[:, 1] = rng.integers(0, 5, n)
    for k in range(2, SEQ):
        seqs[:, k] = (seqs[:, k - 1] + seqs[:, k - 2]) % 5
    toks = seqs + 2
    inp = np.concatenate([np.full((n, 1), START, np.int32), toks[:, :-1]], axis=1)
    return mx.array(inp), mx.array(toks)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)

    def __call__(self, x, mask=None):
        B, T, _ = x.shape
        Q = self.W_q(x).reshape(B, T, self.num_heads, self.d_k).transpose(0, 2, 1, 3)
        K = self.W_k(x).reshape(B, T, self.num_heads, self.d_k).transpose(0, 2, 1, 3)
        V = self.W_v(x).reshape(B, T, self.num_heads, self.d_k).transpose(0, 2, 1, 3)
        scores = mx.matmul(Q, K.transpose(0, 1, 3, 2)) / mx.sqrt(mx.array(self.d_k, dtype=mx.float32))
        if mask is not None:
            # Expand mask to match attention scores shape
            if len(mask.shape) == 2:  # [B, T]
                mask = mx.expand_dims(mx.expand_dims(mask, axis=1), axis=1)  # [B, 1, 1, T]
            scores = mx.where(mask == 0, -1e9, scores)
        attn = mx.softmax(scores, axis=-1)
        out = mx.matmul(attn, V).transpose(0, 2, 1, 3).reshape(B, T, -1)
        return self.W_o(out)


class TransformerEncoderLayer(nn.Module):
    def __init__(self, d_model, num_heads, hidden):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, d_model))

    def __call__(self, x, mask):
        x = self.ln1(x + self.attn(x, mask))
        return self.ln2(x + self.ff(x))


class SelfiesTransformerDecoder(nn.Module):
    def __init__(self, vocab_size, d_model=32, hidden=64, heads=4, layers=2):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.pos_embedding = nn.Embedding(SEQ, d_model)
        self.decoder_layers = [TransformerEncoderLayer(d_model, heads, hidden) for _ in range(layers)]
        self.output_projection = nn.Linear(d_model, vocab_size)

    def __call__(self, input_seq):
        batch_size, seq_len = input_seq.shape
        # Create mask (1 for valid, 0 for padding)
        mask = (input_seq != 0).astype(mx.float32)
        h = self.token_embedding(input_seq) + self.pos_embedding(mx.arange(seq_len))
        for layer in self.decoder_layers:
            h = layer(h, mask)
        return self.output_projection(h)


def loss_fn(model, inp, tgt):
    logits = model(inp)
    return nn.losses.cross_entropy(logits, tgt, reduction="mean")


def greedy_generate(model, prompt):
    n = prompt.shape[0]
    seq = mx.concatenate([mx.full((n, 1), START, dtype=mx.int32), prompt], axis=1)
    while seq.shape[1] < SEQ + 1:
        logits = model(seq)
        nxt = mx.argmax(logits[:, -1, :], axis=-1).astype(mx.int32)
        seq = mx.concatenate([seq, nxt[:, None]], axis=1)
    return seq[:, 1:]


model = SelfiesTransformerDecoder(VOCAB)
mx.eval(model.parameters())
optimizer = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, loss_fn)

val_inp, val_tgt = make_batch(256)
t0 = time.time()
for step in range(1, 161):
    inp, tgt = make_batch(64)
    loss, grads = loss_and_grad(model, inp, tgt)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if step % 20 == 0:
        vl = loss_fn(model, val_inp, val_tgt)
        tf_acc = mx.mean(mx.argmax(model(val_inp), axis=-1) == val_tgt)
        print(f"step {step:4d}  recon {loss.item():.4f}  val_recon {vl.item():.4f}  "
              f"teacher_forced_acc {tf_acc.item()*100:5.1f}%")

# generation check: prompt with the first two tokens, decode the rest greedily
gen = greedy_generate(model, val_tgt[:, :2])
tok_acc = mx.mean(gen[:, 2:] == val_tgt[:, 2:]).item()
valid = mx.mean(mx.all(gen == val_tgt, axis=1)).item()
print(f"greedy generation: token acc {tok_acc*100:.1f}%  valid sequences {valid*100:.1f}%  "
      f"({time.time()-t0:.1f}s)")
