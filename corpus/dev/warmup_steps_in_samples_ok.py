"""Tiny character language model on synthetic Markov text, AdamW with linear warmup + cosine."""
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)
ALPHABET = "abcdefghij "
NEXT = {c: random.sample(ALPHABET, 3) for c in ALPHABET}
text, c = [], "a"
for _ in range(60000):
    c = random.choice(NEXT[c])
    text.append(ALPHABET.index(c))
data = mx.array(text)

CTX, BATCH, EPOCHS, WARMUP_EPOCHS = 16, 64, 6, 1
samples = len(text) - CTX - 1
batches_per_epoch = samples // (BATCH * CTX)


class CharLM(nn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mix = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, vocab)

    def __call__(self, x):
        return self.out(nn.gelu(self.mix(self.emb(x))))


model = CharLM(len(ALPHABET))
total = EPOCHS * batches_per_epoch
warmup = optim.linear_schedule(0.0, 3e-3, steps=WARMUP_EPOCHS * batches_per_epoch)
decay = optim.cosine_decay(3e-3, total)
opt = optim.AdamW(learning_rate=optim.join_schedules([warmup, decay],
                                                    [WARMUP_EPOCHS * batches_per_epoch]))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
step = 0
for epoch in range(EPOCHS):
    starts = mx.random.randint(0, samples, (batches_per_epoch, BATCH))
    for b in range(batches_per_epoch):
        pos = starts[b][:, None] + mx.arange(CTX)[None, :]
        loss, grads = step_fn(model, data[pos], data[pos + 1])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        step += 1
        if step % 25 == 0:
            lr = opt.learning_rate.item()
            ppl = math.exp(loss.item())
            print(f"[epoch {epoch}] step {step}/{total} lr={lr:.2e} ppl={ppl:.3f}")
