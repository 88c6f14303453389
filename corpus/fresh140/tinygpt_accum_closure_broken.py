# Tiny GPT pre-training on synthetic "pattern" text with gradient accumulation.
# Trainer layout follows a GPT-2 pretraining repo (train_xl.py style).
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

random.seed(0)
mx.random.seed(0)

# ---- synthetic corpus: repeating words with a simple grammar ----
words = ["red", "fox", "jumps", "over", "lazy", "dog", "and", "cat", "runs", "far"]
text = " ".join(random.choice(words[:5]) + " " + random.choice(words[5:]) for _ in range(4000))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
VOCAB, CTX = len(chars), 16


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))


class GPT(nn.Module):
    def __init__(self, vocab, ctx, d=32, h=4, n_layer=2):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(ctx, d)
        self.blocks = [Block(d, h) for _ in range(n_layer)]
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)


class GPTTrainer:
    def __init__(self, model, grad_accumulation_steps=2, max_lr=3e-3, min_lr=3e-4,
                 warmup_iters=10, lr_decay_iters=130):
        self.model = model
        self.optimizer = optim.AdamW(learning_rate=0.0, weight_decay=0.01)
        self.grad_accumulation_steps = grad_accumulation_steps
        self.max_lr, self.min_lr = max_lr, min_lr
        self.warmup_iters, self.lr_decay_iters = warmup_iters, lr_decay_iters
        self.accumulated_grads = tree_map(lambda p: mx.zeros_like(p), model.parameters())
        self.accumulated_loss = 0.0

    def update_learning_rate(self, it):
        if it < self.warmup_iters:
            new_lr = self.max_lr * it / self.warmup_iters
        elif it > self.lr_decay_iters:
            new_lr = self.min_lr
        else:
            ratio = (it - self.warmup_iters) / (self.lr_decay_iters - self.warmup_iters)
            new_lr = self.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (self.max_lr - self.min_lr)
        self.optimizer.learning_rate = new_lr

    def compute_minibatch_loss_grads(self, inputs, targets):
        # Create a custom loss function that handles positional encoding internally
        def custom_loss_fn(model, x, y):
            seq_length = x.shape[1]
            pos = mx.arange(0, seq_length)
            mask = nn.MultiHeadAttention.create_additive_causal_mask(seq_length)
            token_embeddings = model.wte(x)
            position_embeddings = model.wpe(pos)
            x = token_embeddings + position_embeddings
            for block in model.blocks:
                h = block.ln_1(x)
                x = x + block.attn(h, h, h, mask=mask)
                x = x + block.mlp(block.ln_2(x))
            x = model.ln_f(x)
            logits = model.lm_head(x)
            loss = nn.losses.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            return mx.mean(loss)

        custom_loss_and_grad_fn = nn.value_and_grad(self.model, custom_loss_fn)
        loss, grads = custom_loss_and_grad_fn(inputs, targets)
        self.accumulated_grads = tree_map(
            lambda acc, new: acc + new * (1.0 / self.grad_accumulation_steps),
            self.accumulated_grads, grads)
        mx.eval(self.accumulated_grads)
        self.accumulated_loss += loss.item()
        return loss

    def perform_gradient_step(self):
        self.optimizer.update(self.model, self.accumulated_grads)
        mx.eval(self.model.parameters(), self.optimizer.state)
        self.accumulated_grads = tree_map(lambda p: mx.zeros_like(p), self.model.parameters())
        avg = self.accumulated_loss / self.grad_accumulation_steps
        self.accumulated_loss = 0.0
        return avg


def get_batch(bs=8):
    ix = [random.randint(0, data.size - CTX - 2) for _ in range(bs)]
    x = mx.stack([data[i:i + CTX] for i in ix])
    y = mx.stack([data[i + 1:i + CTX + 1] for i in ix])
    return x, y


model = GPT(VOCAB, CTX)
trainer = GPTTrainer(model)
print(f"vocab={VOCAB} ctx={CTX} accum={trainer.grad_accumulation_steps}")
for it in range(150):
    tic = time.perf_counter()
    trainer.update_learning_rate(it)
    for _ in range(trainer.grad_accumulation_steps):
        inputs, targets = get_batch()
        trainer.compute_minibatch_loss_grads(inputs, targets)
    train_loss = trainer.perform_gradient_step()
    toc = time.perf_counter()
    if it % 10 == 0 or it == 149:
        print(f"iter {it}: train loss {train_loss:.3f}, it/sec {1.0 / (toc - tic):.3f}, "
              f"lr {trainer.optimizer.learning_rate.item():.4f}")
print("done")
