"""Fine-tune a tiny bigram language model in half precision to save memory.

Synthetic corpus: token t is followed by (7 * t + 3) % VOCAB with 90 %
probability, by a random token otherwise.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, DIM, SEQ, BATCH = 64, 32, 16, 16
EPOCHS, STEPS = 3, 40


class BigramLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 64), nn.GELU(), nn.Linear(64, VOCAB))

    def __call__(self, ids):
        return self.ff(self.tok(ids))


def make_batch():
    x = mx.random.randint(0, VOCAB, (BATCH, SEQ))
    follow = (7 * x + 3) % VOCAB
    noise = mx.random.randint(0, VOCAB, (BATCH, SEQ))
    y = mx.where(mx.random.uniform(shape=(BATCH, SEQ)) < 0.9, follow, noise)
    return x, y


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


mx.random.seed(0)
model = BigramLM()
model.set_dtype(mx.float16)
optimizer = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"{'epoch':>5} | {'step':>5} | {'loss':>8} | {'ppl':>8}")
for epoch in range(1, EPOCHS + 1):
    for step in range(1, STEPS + 1):
        x, y = make_batch()
        loss, grads = step_fn(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        if step % 10 == 0 or (epoch, step) == (1, 1):
            value = loss.item()
            ppl = math.exp(value) if value < 50 else float("inf")
            print(f"{epoch:>5} | {step:>5} | {value:8.4f} | {ppl:8.2f}")
