# Tiny char-level GPT pretraining with gradient accumulation (nanoGPT-style port to MLX).
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.optimizers.optimizers import clip_grad_norm
from mlx.utils import tree_map

mx.random.seed(0)

# ---------------------------------------------------------------- data
# four small "documents", each written in its own slice of the alphabet
letters = "abcdefghijklmnopqrstuvwxyz"
vocab = " " + letters
stoi = {c: i for i, c in enumerate(vocab)}


def make_doc(k, n_chars, seed):
    alpha = letters[k * 6:(k + 1) * 6]
    words, s = [], seed
    for _ in range(5):
        s = (s * 1103515245 + 12345) % (2 ** 31)
        L = 3 + s % 4
        w = ""
        for _ in range(L):
            s = (s * 1103515245 + 12345) % (2 ** 31)
            w += alpha[(s >> 8) % len(alpha)]
        words.append(w)
    text = ""
    while len(text) < n_chars:
        text += " ".join(words) + " "
    return text[:n_chars]


class DataLoaderLite:
    def __init__(self, tokens, B, T):
        self.B, self.T = B, T
        self.tokens = tokens
        self.current_position = 0

    def next_batch(self):
        B, T = self.B, self.T
        buf = self.tokens[self.current_position:self.current_position + B * T + 1]
        x = buf[:-1].reshape(B, T)
        y = buf[1:].reshape(B, T)
        self.current_position += B * T
        if self.current_position + B * T + 1 > self.tokens.shape[0]:
            self.current_position = 0
        return x, y


B, T = 8, 16
n_docs = 4
text = "".join(make_doc(k, B * T, seed=17 + 31 * k) for k in range(n_docs))
text += text[0]
tokens = mx.array([stoi[c] for c in text], dtype=mx.int32)
train_loader = DataLoaderLite(tokens, B, T)

total_batch_size = n_docs * B * T
assert total_batch_size % (B * T) == 0, "make sure total_batch_size is divisible by B * T"
grad_accum_steps = total_batch_size // (B * T)
print(f"Using gradient accumulation over {grad_accum_steps} steps")


# ---------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, T, d=48, heads=4, n_layer=1):
        super().__init__()
        self.vocab_size = vocab_size
        self.wte = nn.Embedding(vocab_size, d)
        self.wpe = nn.Embedding(T, d)
        self.h = [Block(d, heads) for _ in range(n_layer)]
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab_size, bias=False)

    def __call__(self, idx):
        L = idx.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.wte(idx) + self.wpe(mx.arange(L))
        for blk in self.h:
            x = blk(x, mask)
        return self.lm_head(self.ln_f(x))


model = GPT(len(vocab), T)
mx.eval(model.parameters())

max_lr = 3e-3
optimizer = optim.AdamW(learning_rate=max_lr, betas=[0.9, 0.95], eps=1e-8, weight_decay=0.01)


def loss_fn(model, x, y):
    logits = model(x).reshape(-1, model.vocab_size)
    return nn.losses.cross_entropy(logits, y.reshape(-1), reduction="mean")


loss_and_grad_fn = nn.value_and_grad(model, loss_fn)


def step():
    loss_accum = 0.0
    grads_accum = None
    for accum_step in range(grad_accum_steps):
        x, y = train_loader.next_batch()
        loss, grads = loss_and_grad_fn(model, x, y)
        mx.eval(loss, grads)
        if grads_accum is None:
            grads_accum = grads
        else:
            grads_accum = tree_map(lambda a, b: a + b, grads_accum, grads)
            mx.eval(grads_accum)
        loss_accum += loss.item() / grad_accum_steps

    clipped_grads, grad_norm = clip_grad_norm(grads_accum, max_norm=1.0)
    optimizer.update(model, clipped_grads)
    mx.eval(model.parameters(), optimizer.state)
    return loss_accum, grad_norm


max_steps = 150
for i in range(max_steps):
    t0 = time.time()
    loss, grad_norm = step()
    t1 = time.time()
    dt = (t1 - t0) * 1000
    tokens_per_sec = (B * T * grad_accum_steps) / (t1 - t0)
    if i % 10 == 0 or i == max_steps - 1:
        print(f"step {i}: loss {loss:.6f}, grad_norm {float(grad_norm):.4f}, dt {dt:.2f}ms, tok/sec {tokens_per_sec:.2f}")

# sample one line per document prompt
for k in range(n_docs):
    ctx = [stoi[c] for c in make_doc(k, 4, seed=17 + 31 * k)]
    for _ in range(12):
        logits = model(mx.array([ctx[-T:]]))[0, -1]
        ctx.append(int(mx.argmax(logits).item()))
    print(f"doc {k}: {''.join(vocab[t] for t in ctx)!r}")
