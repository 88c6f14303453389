# Tiny character-level GPT on short generated farm stories (MLX).
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class GPTConfig:
    def __init__(self):
        self.ctx_len = 32
        self.n_emb = 64
        self.n_heads = 4
        self.n_layers = 2
        self.head_size = self.n_emb // self.n_heads
        self.dropout = 0.1
        self.batch_size = 8
        self.lr = 1e-3
        self.num_epochs = 3
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
        self.causal_mask = mx.tril(mx.ones((config.ctx_len, config.ctx_len)))

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.qkv(x)
        qkv = qkv.reshape(B, T, 3, self.n_heads, self.head_size)
        qkv = qkv.transpose(0, 2, 3, 1, 4)
        q = qkv[:, 0]
        k = qkv[:, 1]
        v = qkv[:, 2]
        attn = (q @ k.transpose(0, 1, 3, 2)) / (self.head_size ** 0.5)
        attn = attn * self.causal_mask[:T, :T]
        attn = nn.softmax(attn, axis=-1)
        attn = self.dropout(attn)
        out = attn @ v
        out = out.transpose(0, 2, 1, 3).reshape(B, T, C)
        out = self.proj(out)
        return out


class FeedForward(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.fc1 = nn.Linear(config.n_emb, 4 * config.n_emb)
        self.fc2 = nn.Linear(4 * config.n_emb, config.n_emb)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = nn.gelu(self.fc1(x))
        x = self.fc2(x)
        return self.dropout(x)


class TransformerBlock(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.attn = MultiHeadAttention(config)
        self.ff = FeedForward(config)
        self.ln1 = nn.LayerNorm(config.n_emb)
        self.ln2 = nn.LayerNorm(config.n_emb)

    def forward(self, x):
        x = x + self.attn.forward(self.ln1(x))
        x = x + self.ff.forward(self.ln2(x))
        return x


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
        tok_emb = self.token_emb(x)
        pos_emb = self.pos_emb(mx.arange(T))
        x = self.dropout(tok_emb + pos_emb)
        for block in self.blocks:
            x = block.forward(x)
        x = self.ln_f(x)
        return self.head(x)


def make_stories(n, seed=0):
    rng = random.Random(seed)
    names = ["tom", "mia", "ben", "lily", "sam"]
    animals = ["cow", "hen", "goat", "pig", "duck"]
    places = ["barn", "field", "pond", "hill", "yard"]
    acts = ["ran to", "walked to", "looked at", "sang near", "slept in"]
    out = []
    for _ in range(n):
        a, b = rng.choice(names), rng.choice(animals)
        out.append(f"{a} saw a {b}. the {b} {rng.choice(acts)} the {rng.choice(places)}. {a} was happy.")
    return "\n".join(out)


def get_batch(data, batch_size, ctx_len):
    idx = mx.random.randint(0, len(data) - ctx_len - 1, (batch_size,)).tolist()
    x = mx.stack([data[i:i + ctx_len] for i in idx])
    y = mx.stack([data[i + 1:i + ctx_len + 1] for i in idx])
    return x, y


if __name__ == "__main__":
    mx.random.seed(0)
    config = GPTConfig()
    text = make_stories(8)
    print(f"corpus chars: {len(text)}")

    tokenizer = CharTokenizer(text)
    config.vocab_size = len(tokenizer.chars)
    data = mx.array(tokenizer.encode(text))
    print(f"vocab size: {config.vocab_size}")

    model = GPT(config)
    optimizer = optim.Adam(learning_rate=config.lr)

    for epoch in range(config.num_epochs):
        total_loss = 0
        num_batches = (len(data) - config.ctx_len) // config.batch_size
        for step, i in enumerate(range(0, len(data) - config.ctx_len, config.batch_size)):
            x, y = get_batch(data, config.batch_size, config.ctx_len)
            loss, grads = nn.value_and_grad(model, lambda m: nn.losses.cross_entropy(m.forward(x), y, reduction='mean'))(model)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
            total_loss += loss.item()
            if step % 20 == 0:
                print(f"  epoch {epoch+1} step {step} loss {loss.item():.4f}")
        print(f"Epoch {epoch+1}/{config.num_epochs}, Loss: {total_loss / num_batches:.4f}")

    mx.savez("/tmp/hayloft_parable_model.npz", **dict(tree_flatten(model.parameters())))
    print("saved model")
