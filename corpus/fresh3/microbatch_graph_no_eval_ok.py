"""Token-budgeted training: each optimizer step is split into micro-batches whose gradients are
summed (loss_and_grad_chunked), like a small GPT speed-run script."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

VOCAB, DIM, HIDDEN, SEQ = 256, 16, 4096, 64
MICRO_BATCH, N_MICRO, STEPS = 4, 16, 6


class WideMLPLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.up = nn.Linear(DIM, HIDDEN)
        self.down = nn.Linear(HIDDEN, DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        h = self.tok(x)
        h = h + self.down(nn.gelu(self.up(h)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def next_tokens(step, k):
    key = mx.random.key(step * 1000 + k)
    start = mx.random.randint(0, VOCAB, (MICRO_BATCH, 1), key=key)
    seq = (start + mx.arange(SEQ + 1)[None, :] * 3) % VOCAB
    return seq[:, :-1], seq[:, 1:]


model = WideMLPLM()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
loss_and_grad = nn.value_and_grad(model, loss_fn)


def loss_and_grad_chunked(step):
    total_loss, total_grad = None, None
    for k in range(N_MICRO):
        x, y = next_tokens(step, k)
        loss, grad = loss_and_grad(model, x, y)
        scaled = tree_map(lambda g: g / N_MICRO, grad)
        if total_grad is None:
            total_loss, total_grad = loss / N_MICRO, scaled
        else:
            total_loss = total_loss + loss / N_MICRO
            total_grad = tree_map(lambda a, b: a + b, total_grad, scaled)
        mx.eval(total_loss, total_grad)
    return total_loss, total_grad


t0 = time.time()
for step in range(1, STEPS + 1):
    train_loss, grads = loss_and_grad_chunked(step)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, train_loss)
    print(f"step:{step}/{STEPS} train_loss:{train_loss.item():.4f} "
          f"train_time:{1000 * (time.time() - t0):.0f}ms")
