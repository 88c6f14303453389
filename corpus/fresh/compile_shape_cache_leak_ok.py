"""Tiny next-token model trained with a compiled step on variable-length batches.

Reproduces ml-explore/mlx#4464: "mx.compile cache has no eviction: one live trace retained per
distinct input shape" -- padding each batch only to its own longest sequence gives the compiled
step a new shape almost every iteration and memory climbs until the process dies.
"""

import logging
import random
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("train")

VOCAB = 48
PAD = 0


def make_example(rng):
    n = rng.randint(6, 200)
    tok = rng.randint(1, VOCAB - 1)
    out = []
    for _ in range(n):
        out.append(tok)
        tok = 1 + (tok - 1 + rng.choice((1, 2))) % (VOCAB - 1)
    return out


def collate(batch):
    longest = max(len(s) for s in batch)
    width = -(-longest // 64) * 64  # bucket: only a few shapes reach the compiled step
    rows = [s + [PAD] * (width - len(s)) for s in batch]
    return mx.array(rows)


class TinyLM(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, dim)
        self.mix = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, VOCAB)

    def __call__(self, x):
        return self.out(nn.gelu(self.mix(self.emb(x))))


class Trainer:
    def __init__(self, steps=900, token_budget=500):
        self.steps = steps
        self.token_budget = token_budget
        self.model = TinyLM()
        self.opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
        self.rng = random.Random(0)

    def loss_fn(self, model, tokens):
        x, y = tokens[:, :-1], tokens[:, 1:]
        mask = (y != PAD).astype(mx.float32)
        ce = nn.losses.cross_entropy(model(x), y) * mask
        return ce.sum() / mask.sum()

    def next_batch(self):
        # dynamic batching: add examples until the token budget is used up
        batch, tokens = [], 0
        while tokens < self.token_budget:
            ex = make_example(self.rng)
            batch.append(ex)
            tokens += len(ex)
        return batch

    def train(self):
        state = [self.model.state, self.opt.state]

        @partial(mx.compile, inputs=state, outputs=state)
        def step(tokens):
            loss, grads = nn.value_and_grad(self.model, self.loss_fn)(self.model, tokens)
            self.opt.update(self.model, grads)
            return loss

        running = 0.0
        for it in range(1, self.steps + 1):
            batch = self.next_batch()
            loss = step(collate(batch))
            mx.eval(loss, state)
            running += loss.item()
            if it % 50 == 0:
                log.info("step %d/%d loss %.4f", it, self.steps, running / 50)
                running = 0.0


if __name__ == "__main__":
    Trainer().train()
