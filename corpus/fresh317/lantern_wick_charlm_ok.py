# Character-level GPT on synthetic lighthouse keeper log lines.
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class GPTConfig:
    def __init__(self):
        self.ctx_len = 32
        self.n_emb = 64
        self.n_heads = 4
        self.n_layers = 2
        self.head_size = 16
        self.dropout = 0.1
        self.batch_size = 16
        self.lr = 1e-3
        self.num_epochs = 5
        self.vocab_size = None


class CharTokenizer:
    def __init__(self, data):
        self.chars = sorted(list(set("".join(data))))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        self.itos = {i: ch for i, ch in enumerate(self.chars)}

    def encode(self, text):
        return [self.stoi[c] for c in text]

    def decode(self, tokens):
        return "".join([self.itos[t] for t in tokens])


class MultiHeadAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.n_heads = config.n_heads
        self.head_size = config.head_size
        self.qkv = nn.Linear(config.n_emb, 3 * config.n_emb)
        self.proj = nn.Linear(config.n_emb, config.n_emb)
        self.dropout = nn.Dropout(config.dropout)
        self.causal_mask = nn.MultiHeadAttention.create_additive_causal_mask(config.ctx_len)

    def __call__(self, x):
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.n_heads, self.head_size).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(0, 1, 3, 2)) / (self.head_size ** 0.5)
        attn = attn + self.causal_mask[:T, :T]
        attn = mx.softmax(attn, axis=-1)
        attn = self.dropout(attn)
        out = (attn @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        return self.proj(out)


class FeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.n_emb, 4 * config.n_emb)
        self.fc2 = nn.Linear(4 * config.n_emb, config.n_emb)
        self.dropout = nn.Dropout(config.dropout)

    def __call__(self, x):
        return self.dropout(self.fc2(nn.gelu(self.fc1(x))))


class TransformerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn = MultiHeadAttention(config)
        self.ff = FeedForward(config)
        self.ln1 = nn.LayerNorm(config.n_emb)
        self.ln2 = nn.LayerNorm(config.n_emb)

    def __call__(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ff(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.token_emb = nn.Embedding(config.vocab_size, config.n_emb)
        self.pos_emb = nn.Embedding(config.ctx_len, config.n_emb)
        self.blocks = [TransformerBlock(config) for _ in range(config.n_layers)]
        self.ln_f = nn.LayerNorm(config.n_emb)
        self.head = nn.Linear(config.n_emb, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        B, T = x.shape
        x = self.dropout(self.token_emb(x) + self.pos_emb(mx.arange(T)))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def make_corpus(n_lines, seed=0):
    rng = random.Random(seed)
    winds = ["calm", "breeze", "gale", "squall"]
    seas = ["flat", "choppy", "rough", "heavy swell"]
    lamps = ["lit", "trimmed", "refuelled", "cleaned"]
    lines = []
    for day in range(n_lines):
        lines.append(
            f"day {day % 31 + 1}: wind {rng.choice(winds)}, sea {rng.choice(seas)}, "
            f"lamp {rng.choice(lamps)} at {rng.randint(16, 21)}h, {rng.randint(0, 9)} ships.\n"
        )
    return "".join(lines)


def get_batch(data, batch_size, ctx_len):
    idx = mx.random.randint(0, len(data) - ctx_len - 1, (batch_size,)).tolist()
    x = mx.stack([data[i:i+ctx_len] for i in idx])
    y = mx.stack([data[i+1:i+ctx_len+1] for i in idx])
    return x, y


if __name__ == "__main__":
    mx.random.seed(0)
    config = GPTConfig()
    text = make_corpus(300)
    tokenizer = CharTokenizer(text)
    config.vocab_size = len(tokenizer.chars)
    data = mx.array(tokenizer.encode(text))
    print(f"corpus chars: {len(text)}, vocab: {config.vocab_size}")

    model = GPT(config)
    optimizer = optim.Adam(learning_rate=config.lr)
    steps_per_epoch = 30

    t0 = time.time()
    for epoch in range(config.num_epochs):
        total_loss = 0.0
        for _ in range(steps_per_epoch):
            x, y = get_batch(data, config.batch_size, config.ctx_len)
            loss, grads = nn.value_and_grad(model, lambda m: nn.losses.cross_entropy(m.forward(x), y, reduction="mean"))(model)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            total_loss += loss.item()
        print(f"Epoch {epoch+1}/{config.num_epochs}, Loss: {total_loss / steps_per_epoch:.4f}")

    model.eval()
    ctx = mx.array(tokenizer.encode("day 1"))[None]
    for _ in range(60):
        logits = model.forward(ctx[:, -config.ctx_len:])
        nxt = mx.argmax(logits[:, -1, :], axis=-1)
        ctx = mx.concatenate([ctx, nxt[:, None]], axis=1)
    print("sample:", repr(tokenizer.decode(ctx[0].tolist())))
    print(f"done in {time.time() - t0:.1f}s")
