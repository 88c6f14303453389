import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import mlx.utils as utils
from typing import Union


# ----------- Tokenizer -----------
class Tokenizer:
    def __init__(self, raw_text: str):
        vocab = sorted(list(set(raw_text)))
        self.vocab_size = len(vocab)
        self.itos = {i: c for i, c in enumerate(vocab)}
        self.stoi = {c: i for i, c in enumerate(vocab)}

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str) -> list[int]:
        return [self.stoi[c] for c in text]

    def decode(self, tokens: list[int]) -> str:
        return ''.join([self.itos[i] for i in tokens])


# ----------- Dataset -----------
def make_corpus(n_lines: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    subjects = ["the rose", "my love", "thy heart", "the moon", "sweet time", "the sea", "fair youth"]
    verbs = ["doth fade", "shall sing", "must weep", "will burn", "doth sleep", "shall rise"]
    tails = ["in summer light", "before the night", "with gentle grace", "upon the shore", "as stars grow pale"]
    lines = []
    for _ in range(n_lines):
        lines.append(f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(tails)},\n")
    return "".join(lines)


def split_data(raw_text: str, tokenizer: Tokenizer, train_val_split: float, ctx_len: int):
    data = tokenizer.encode(raw_text)
    split = int(train_val_split * len(data))
    train_data = data[:split]
    val_data = data[split:]
    X_train = mx.array([train_data[i:i + ctx_len] for i in range(0, len(train_data) - ctx_len, ctx_len)])
    y_train = mx.array([train_data[i + 1:i + ctx_len + 1] for i in range(0, len(train_data) - ctx_len, ctx_len)])
    X_val = mx.array([val_data[i:i + ctx_len] for i in range(0, len(val_data) - ctx_len, ctx_len)])
    y_val = mx.array([val_data[i + 1:i + ctx_len + 1] for i in range(0, len(val_data) - ctx_len, ctx_len)])
    return X_train, y_train, X_val, y_val


def get_batches(X: mx.array, y: mx.array, batch_size: int, shuffle: bool = False):
    if shuffle:
        ids = np.arange(X.shape[0])
        np.random.shuffle(ids)
        ids = mx.array(ids)
        X = X[ids]
        y = y[ids]
    for i in range(0, X.shape[0], batch_size):
        yield X[i:i + batch_size], y[i:i + batch_size]


# ----------- Models Components -----------
class MLP(nn.Module):
    def __init__(self, n_embed: int, bias: bool, dropout: float):
        super().__init__()
        self.c_fc = nn.Linear(n_embed, 4 * n_embed, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embed, n_embed, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def __call__(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class MultiHeadAttention(nn.Module):
    def __init__(self, n_embed: int, bias: bool, dropout: float, n_heads: int):
        super().__init__()
        assert n_embed % n_heads == 0, f"n_embed ({n_embed}) must be divisible by n_heads ({n_heads})"
        self.c_kqv = nn.Linear(n_embed, 3 * n_embed, bias=bias)
        self.c_proj = nn.Linear(n_embed, n_embed, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_heads = n_heads
        self.head_dim = n_embed // self.n_heads
        self.sqrt_d = math.sqrt(self.head_dim)

    def __call__(self, x, mask: Union[mx.array, None] = None):
        B, T, C = x.shape
        K, Q, V = mx.split(self.c_kqv(x), indices_or_sections=3, axis=2)
        K = mx.as_strided(K, (B, T, self.n_heads, self.head_dim)).transpose(0, 2, 1, 3)
        Q = mx.as_strided(Q, (B, T, self.n_heads, self.head_dim)).transpose(0, 2, 1, 3)
        V = mx.as_strided(V, (B, T, self.n_heads, self.head_dim)).transpose(0, 2, 1, 3)
        A = ((Q @ K.transpose(0, 1, 3, 2)) / self.sqrt_d)
        if mask is not None:
            A = mx.where(mask[:, :, :T, :T] == 0, -np.inf, A)
        A_norm = mx.softmax(A, axis=-1)
        A_norm = self.attn_dropout(A_norm)
        y = A_norm @ V
        y = mx.contiguous(y.transpose(0, 2, 1, 3)).reshape((B, T, C))
        y = self.c_proj(self.resid_dropout(y))
        return y


class Block(nn.Module):
    def __init__(self, n_embed: int, bias: bool, dropout: float, n_heads: int):
        super().__init__()
        self.norm_1 = nn.LayerNorm(dims=n_embed, bias=bias)
        self.attention = MultiHeadAttention(n_embed=n_embed, bias=bias, dropout=dropout, n_heads=n_heads)
        self.norm_2 = nn.LayerNorm(dims=n_embed, bias=bias)
        self.mlp = MLP(n_embed=n_embed, dropout=dropout, bias=bias)

    def __call__(self, x, mask: Union[mx.array, None] = None):
        x = x + self.attention(x=self.norm_1(x), mask=mask)
        x = x + self.mlp(x=self.norm_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, vocab_size: int, n_embed: int, bias: bool, dropout: float, n_heads: int, n_layers: int, ctx_len: int):
        super().__init__()
        self.ctx_len = ctx_len
        self.wte = nn.Embedding(vocab_size, n_embed)
        self.wpe = nn.Embedding(self.ctx_len, n_embed)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[
            Block(n_embed=n_embed, bias=bias, dropout=dropout, n_heads=n_heads)
            for _ in range(n_layers)
        ])
        self.ln_f = nn.LayerNorm(dims=n_embed, bias=bias)
        self.lm_head = nn.Linear(n_embed, vocab_size, bias=bias)
        self.wte.weight = self.lm_head.weight
        self._init_params()

    def _init_params(self):
        normal_init = nn.init.normal(mean=0.0, std=0.02)
        new_params = []
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear):
                new_params.append((name + '.weight', normal_init(module.weight)))
                if 'bias' in module:
                    new_params.append((name + '.bias', mx.zeros(module.bias.shape)))
            elif isinstance(module, nn.Embedding):
                new_params.append((name + '.weight', normal_init(module.weight)))
        self.update(utils.tree_unflatten(new_params))

    def __call__(self, x: mx.array) -> mx.array:
        T = x.shape[1]
        assert T <= self.ctx_len, f"Sequence length {T} exceeds context length {self.ctx_len}"
        tok_emb = self.wte(x)
        pos_emb = self.wpe(mx.arange(start=0, stop=T, step=1, dtype=mx.int32))
        x = self.dropout(tok_emb + pos_emb)
        mask = mx.tril(mx.ones((T, T)))[None, None, :, :]
        x = self.blocks(x=x, mask=mask)
        x = self.ln_f(x)
        return self.lm_head(x)

    def generate(self, ctx: mx.array, max_new_tokens: int, temperature: float = 1.0) -> mx.array:
        self.train(False)
        for _ in range(max_new_tokens):
            lm_ctx = ctx[:, -self.ctx_len:]
            logits = self(lm_ctx)[:, -1, :]
            next_tok = mx.random.categorical(logits / temperature, num_samples=1)
            ctx = mx.concatenate((ctx, next_tok), axis=1)
        return ctx


# ----------- Loss Function -----------
def loss_fn(m: nn.Module, xb: mx.array, yb: mx.array) -> mx.array:
    logits = m(xb)
    B, T, C = logits.shape
    return nn.losses.cross_entropy(logits.reshape(B * T, C), yb.reshape(B * T), reduction='mean')


# ----------- Training -----------
def train(X_train, y_train, X_val, y_val, batch_size, model, lr, betas, weight_decay, max_grad_norm, steps, eval_frequency, tokenizer):
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    optimizer = optim.AdamW(learning_rate=lr, betas=betas, weight_decay=weight_decay)
    train_data_iterator = iter(get_batches(X=X_train, y=y_train, batch_size=batch_size, shuffle=True))
    t0 = time.time()
    for step in range(steps):
        try:
            xb, yb = next(train_data_iterator)
        except StopIteration:
            train_data_iterator = iter(get_batches(X=X_train, y=y_train, batch_size=batch_size, shuffle=True))
            xb, yb = next(train_data_iterator)

        model = model.train(True)
        loss, grads = loss_and_grad(model, xb, yb)
        clipped_grads, grad_norm = optim.clip_grad_norm(grads=grads, max_norm=max_grad_norm)
        optimizer.update(model, clipped_grads)
        mx.eval(model.parameters(), optimizer.state)
        train_loss = loss.item()

        if step % eval_frequency == 0 or step == steps - 1:
            model = model.train(False)
            val_loss = 0.0
            n_val = 0
            for xb, yb in get_batches(X=X_val, y=y_val, batch_size=batch_size, shuffle=False):
                val_loss += loss_fn(m=model, xb=xb, yb=yb).item()
                n_val += 1
            val_loss /= n_val
            print(f"step {step:4d}/{steps} | train loss {train_loss:.4f} | val loss {val_loss:.4f} "
                  f"| grad norm {grad_norm.item():.3f} | {time.time() - t0:.1f}s", flush=True)
    return model


def generate_completion(start: str, model: nn.Module, tokenizer: Tokenizer, max_new_tokens: int, temperature: float = 1.0) -> str:
    start_ctx = mx.array([tokenizer.encode(start)])
    completion_tokens = model.generate(ctx=start_ctx, max_new_tokens=max_new_tokens, temperature=temperature)[0].tolist()
    return tokenizer.decode(completion_tokens)


def main():
    mx.random.seed(42)
    np.random.seed(42)
    raw_text = make_corpus(n_lines=900, seed=7)
    tokenizer = Tokenizer(raw_text)
    ctx_len = 32
    X_train, y_train, X_val, y_val = split_data(raw_text, tokenizer, train_val_split=0.9, ctx_len=ctx_len)
    print(f"corpus chars {len(raw_text)} | vocab {tokenizer.vocab_size} | train windows {X_train.shape[0]} | val windows {X_val.shape[0]}")
    print(f"uniform-guess loss {math.log(tokenizer.vocab_size):.4f}")
    model = GPT(vocab_size=tokenizer.vocab_size, n_embed=32, bias=True, dropout=0.0, n_heads=4, n_layers=2, ctx_len=ctx_len)
    n_params = sum(v.size for _, v in utils.tree_flatten(model.parameters()))
    print(f"Number of parameters: {n_params / 1e6:.3f}M")
    model = train(X_train, y_train, X_val, y_val, batch_size=16, model=model, lr=5e-3, betas=[0.9, 0.95],
                  weight_decay=0.1, max_grad_norm=1.0, steps=150, eval_frequency=25, tokenizer=tokenizer)
    print("sample:", repr(generate_completion(start="the rose", model=model, tokenizer=tokenizer, max_new_tokens=40, temperature=0.8)))


if __name__ == "__main__":
    main()
