import logging
import math
import random
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.optimizers.optimizers import clip_grad_norm
from mlx.utils import tree_map

logging.basicConfig(stream=sys.stdout, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                    level=logging.INFO)
logger = logging.getLogger("mlx-gpt")

# ---- tiny corpus: quarry shift reports from a small grammar ----
random.seed(7)
subj = ["the crane", "a hauler", "the drill", "crew four", "the loader", "a cutter"]
verb = ["moved", "split", "lifted", "stacked", "hauled", "dressed"]
obj = ["granite", "slate", "the marble", "limestone", "two blocks", "the rubble"]
when = ["at dawn", "by noon", "before rain", "after lunch", "at dusk"]
text = ". ".join(f"{random.choice(subj)} {random.choice(verb)} {random.choice(obj)} {random.choice(when)}"
                 for _ in range(1500)) + "."
chars = sorted(set(text))
VOCAB_SIZE = len(chars)
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
n = int(0.9 * data.size)
train_data, val_data = data[:n], data[n:]


class DataLoaderLite:
    def __init__(self, B, T, split):
        self.B, self.T = B, T
        self.tokens = train_data if split == "train" else val_data
        self.pos = 0

    def reset(self):
        self.pos = 0

    def next_batch(self):
        B, T = self.B, self.T
        if self.pos + B * T + 1 > self.tokens.size:
            self.pos = 0
        buf = self.tokens[self.pos:self.pos + B * T + 1]
        self.pos += B * T
        return buf[:-1].reshape(B, T), buf[1:].reshape(B, T)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h, bias=True)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=48):
        super().__init__()
        self.vocab_size = vocab_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.h = [Block(n_embd, n_head) for _ in range(n_layer)]
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for blk in self.h:
            x = blk(x, mask)
        return self.lm_head(self.ln_f(x))


mx.random.seed(0)
model = GPT(VOCAB_SIZE)
mx.eval(model.parameters())

train_loader = DataLoaderLite(B=8, T=32, split="train")
val_loader = DataLoaderLite(B=8, T=32, split="val")

max_lr = 3e-3
min_lr = max_lr * 0.1
warmup_steps = 10
max_steps = 80
linear_schedule = optim.linear_schedule(max_lr * 1 / warmup_steps, max_lr, warmup_steps)
cosine_schedule = optim.cosine_decay(max_lr, max_steps - warmup_steps, min_lr)
lr_schedule = optim.join_schedules([linear_schedule, cosine_schedule], [warmup_steps])


def get_lr_python(step: int) -> float:
    """Learning rate in pure Python, for logging."""
    if step < warmup_steps:
        init_lr = max_lr * 1 / warmup_steps
        return init_lr + step * ((max_lr - init_lr) / warmup_steps)
    decay_steps = max_steps - warmup_steps
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    return min_lr + decay * (max_lr - min_lr)


# Create optimizers for parameters with and without weight decay
optimizer_decay = optim.AdamW(learning_rate=lr_schedule, weight_decay=0.01)
optimizer_skip_decay = optim.AdamW(learning_rate=lr_schedule, weight_decay=0.0)


def should_apply_weight_decay(path, param):
    return param.ndim >= 2


optimizer = optim.MultiOptimizer(
    optimizers=[optimizer_decay, optimizer_skip_decay],
    filters=[should_apply_weight_decay],
)

grad_accum_steps = 2
logger.info(f"Using gradient accumulation over {grad_accum_steps} steps")


def loss_fn(model, x, y):
    logits = model(x).reshape(-1, model.vocab_size)
    return nn.losses.cross_entropy(logits, y.reshape(-1), reduction="mean")


state = [model.state, optimizer.state]
loss_and_grad_fn = nn.value_and_grad(model, loss_fn)


@partial(mx.compile, inputs=state, outputs=state)
def forward_backward(x, y):
    loss, grads = loss_and_grad_fn(model, x, y)
    return loss, grads


def step():
    loss_accum = 0.0
    grads_accum = None
    for _ in range(grad_accum_steps):
        x, y = train_loader.next_batch()
        loss, grads = forward_backward(x, y)
        mx.eval(loss, grads)
        grads_accum = grads if grads_accum is None else tree_map(lambda a, b: a + b, grads_accum, grads)
        loss_accum += loss.item() / grad_accum_steps
    grads_accum = tree_map(lambda g: g / grad_accum_steps, grads_accum)
    grads_accum, grad_norm = clip_grad_norm(grads_accum, max_norm=1.0)
    optimizer.update(model, grads_accum)
    mx.eval(model.parameters(), optimizer.state)
    return loss_accum, grad_norm


def eval_val(n_batches=8):
    val_loader.reset()
    tot = 0.0
    for _ in range(n_batches):
        x, y = val_loader.next_batch()
        tot += loss_fn(model, x, y).item()
    return tot / n_batches


for i in range(max_steps):
    if i % 20 == 0 or i == max_steps - 1:
        logger.info(f"step {i}: val_loss {eval_val():.4f}")
    t0 = time.time()
    loss, grad_norm = step()
    dt = (time.time() - t0) * 1000
    tokens_per_sec = train_loader.B * train_loader.T * grad_accum_steps / (dt / 1000)
    current_lr = get_lr_python(i)
    grad_norm_val = float(grad_norm)
    if i % 10 == 0 or i == max_steps - 1:
        logger.info(f"step {i}: loss {loss:.4f}, grad_norm {grad_norm_val:.6f}, lr {current_lr:.2e}, "
                    f"dt {dt:.2f}ms, tok/sec {tokens_per_sec:.2f}")

logger.info("Training completed.")
