# tiny char-level GPT on a generated "play script", nanoGPT style (port of build-nanogpt to MLX)
import random
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(1337)
mx.random.seed(1337)

NAMES = ["ALONSO", "POLIXENES", "HERMIONE", "LEONTES"]
VERBS = ["speaks", "weeps", "waits", "sings", "falls", "rises"]
OBJS = ["the king", "my lord", "the sea", "her grace", "the crown"]
lines = []
for _ in range(600):
    lines.append(f"{random.choice(NAMES)}:\nI {random.choice(VERBS)} for {random.choice(OBJS)}.\n\n")
text = "".join(lines)
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
n = int(0.9 * data.size)
train_data, val_data = data[:n], data[n:]


@dataclass
class GPTConfig:
    block_size: int = 32
    vocab_size: int = len(chars)
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.scale = (config.n_embd // config.n_head) ** -0.5
        T = config.block_size
        self.buf = mx.tril(mx.ones(shape=(T, T))).reshape(1, 1, T, T)

    def __call__(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(3, axis=-1)
        q = q.reshape(B, T, self.n_head, -1).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, self.n_head, -1).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, self.n_head, -1).transpose(0, 2, 1, 3)
        scores = (q @ k.transpose(0, 1, 3, 2)) * self.scale
        causal_scores = mx.where(
            mx.stop_gradient(mx.tril(scores)), mx.array(float("-inf")), scores
        )
        att = mx.softmax(causal_scores, axis=-1)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, -1)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
        )

    def __call__(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.block_size, config.n_embd)
        self.h = [Block(config) for _ in range(config.n_layer)]
        self.ln_f = nn.LayerNorm(config.n_embd)

    def __call__(self, idx):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(mx.arange(T))
        for block in self.h:
            x = block(x)
        return self.wte.as_linear(self.ln_f(x))


def get_batch(split, B, T):
    d = train_data if split == "train" else val_data
    ix = [random.randrange(0, d.size - T - 1) for _ in range(B)]
    x = mx.stack([d[i : i + T] for i in ix])
    y = mx.stack([d[i + 1 : i + T + 1] for i in ix])
    return x, y


config = GPTConfig()
model = GPT(config)
model.freeze(keys=["buf"])  # the causal buffer is not a weight
mx.eval(model.parameters())


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


value_and_grad_fn = nn.value_and_grad(model, loss_fn)
max_steps = 150
lr_sched = optim.join_schedules(
    [optim.linear_schedule(1e-4, 3e-3, 20), optim.cosine_decay(3e-3, max_steps - 20, 3e-4)], [20]
)
optimizer = optim.AdamW(learning_rate=lr_sched, betas=(0.9, 0.95), weight_decay=0.1)

B, T = 8, config.block_size
for step in range(max_steps):
    t0 = time.time()
    x, y = get_batch("train", B, T)
    loss, grads = value_and_grad_fn(model, x, y)
    grads, norm = optim.clip_grad_norm(grads, 1.0)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    dt = (time.time() - t0) * 1000
    if step % 15 == 0 or step == max_steps - 1:
        vx, vy = get_batch("val", 32, T)
        vloss = loss_fn(model, vx, vy).item()
        print(
            f"step: {step:4d} | loss: {loss.item():.6f} | val: {vloss:.4f} | "
            f"lr: {optimizer.learning_rate.item():.4e} | norm: {norm.item():.4f} | dt: {dt:.2f}ms"
        )
