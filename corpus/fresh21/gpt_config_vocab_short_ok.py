"""Tiny char-level GPT pretraining on synthetic log lines (nanochat-style config + tokenizer)."""
import json
import random
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ="  # 64 symbols


class CharTokenizer:
    def __init__(self):
        self.stoi = {c: i for i, c in enumerate(ALPHABET)}

    def get_vocab_size(self):
        return len(self.stoi)

    def encode(self, s):
        return [self.stoi[c] for c in s]


@dataclass
class GPTConfig:
    sequence_len: int = 32
    vocab_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = nn.MultiHeadAttention(cfg.n_embd, cfg.n_head)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(), nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.sequence_len, cfg.n_embd)
        self.blocks = [Block(cfg) for _ in range(cfg.n_layer)]
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.lm_head(self.ln_f(x))


random.seed(11)
mx.random.seed(11)
users = ["alice", "Bob", "carol", "DAVE", "erin", "Frank"]
events = ["login", "logout", "upload", "Delete", "view"]
lines = [f"user={random.choice(users)} ev={random.choice(events)} t={random.randint(0, 999)}" for _ in range(4000)]

tok = CharTokenizer()
cfg = GPTConfig()
stream = []
for ln in lines:
    stream.extend(tok.encode(ln + " "))
data = mx.array(stream)
print(json.dumps({"tokenizer_vocab": tok.get_vocab_size(), "model_vocab": cfg.vocab_size, "tokens": len(stream)}))

model = GPT(cfg)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y).mean()


step_fn = nn.value_and_grad(model, loss_fn)
T, B = cfg.sequence_len, 16
t0 = time.time()
for it in range(1, 121):
    starts = [random.randrange(len(stream) - T - 1) for _ in range(B)]
    x = mx.stack([data[s:s + T] for s in starts])
    y = mx.stack([data[s + 1:s + T + 1] for s in starts])
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 10 == 0:
        print(json.dumps({"iter": it, "loss": round(loss.item(), 4), "elapsed_s": round(time.time() - t0, 2)}))
