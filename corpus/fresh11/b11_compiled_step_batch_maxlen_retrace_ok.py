"""Sequence regression with a compiled train step; variable-length inputs are
padded per batch and masked."""
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)

FEAT = 8
MAXLEN = 3000
BATCH = 2
STEPS = 1200


class Pooler(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(FEAT, 16)
        self.mix = nn.Linear(16, 16)
        self.head = nn.Linear(16, 1)

    def __call__(self, x, mask):
        h = nn.gelu(self.embed(x))
        h = (h + nn.silu(self.mix(h))) * mask[..., None]
        pooled = h.sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return self.head(pooled)


def make_batch():
    lens = [random.randint(1, MAXLEN) for _ in range(BATCH)]
    width = MAXLEN  # pad every batch to one fixed width
    x = mx.random.normal((BATCH, width, FEAT))
    mask = (mx.arange(width)[None, :] < mx.array(lens)[:, None]).astype(mx.float32)
    target = (x[..., 0] * mask).sum(axis=1, keepdims=True) / mask.sum(axis=1, keepdims=True)
    return x, mask, target * 3.0


model = Pooler()
opt = optim.Adam(learning_rate=3e-3)
state = [model.state, opt.state]


def loss_fn(model, x, mask, y):
    return nn.losses.mse_loss(model(x, mask), y)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, mask, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, mask, y)
    opt.update(model, grads)
    return loss


running = None
for step in range(1, STEPS + 1):
    x, mask, y = make_batch()
    loss = train_step(x, mask, y)
    mx.eval(state, loss)
    running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
    if step % 200 == 0:
        print(f"step {step:5d}  loss {running:.4f}")
print("done")
