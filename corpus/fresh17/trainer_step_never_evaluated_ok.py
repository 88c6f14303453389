"""Tiny next-token language model on a synthetic corpus, trained with a small
Trainer class: lazy running loss, logging every `logging_steps` steps, epoch
average computed at the end of the epoch (one pass over the token stream).
"""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)

VOCAB, DIM, SEQ, BS = 512, 48, 32, 16

# synthetic corpus: each token is usually followed by one of 3 "grammatical" successors
succ = {t: random.sample(range(VOCAB), 3) for t in range(VOCAB)}
tokens = [0]
for _ in range(60_000):
    prev = tokens[-1]
    tokens.append(random.choice(succ[prev]) if random.random() < 0.9 else random.randrange(VOCAB))
corpus = mx.array(tokens)


def batches(n_steps):
    for _ in range(n_steps):
        starts = mx.random.randint(0, corpus.size - SEQ - 1, (BS,))
        idx = starts[:, None] + mx.arange(SEQ + 1)[None, :]
        chunk = corpus[idx]
        yield {"input_ids": chunk[:, :-1], "labels": chunk[:, 1:]}


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))
        self.norm = nn.LayerNorm(DIM)
        self.lm_head = nn.Linear(DIM, VOCAB)

    def __call__(self, ids):
        h = self.embed(ids)
        h = h + self.mlp(self.norm(h))
        return self.lm_head(h)


class Trainer:
    def __init__(self, model, lr=3e-3, logging_steps=50):
        self.model = model
        self.optimizer = optim.AdamW(learning_rate=lr, weight_decay=0.01)
        self.logging_steps = logging_steps
        self.global_step = 0
        self._loss_and_grad = nn.value_and_grad(model, self._loss)

    def _loss(self, model, ids, labels):
        logits = model(ids)
        return nn.losses.cross_entropy(logits, labels, reduction="mean")

    def _train_step(self, batch):
        loss, grads = self._loss_and_grad(self.model, batch["input_ids"], batch["labels"])
        self.optimizer.update(self.model, grads)
        mx.eval(loss, self.model.parameters(), self.optimizer.state)
        return loss

    def train_epoch(self, n_steps, epoch):
        epoch_loss = 0.0
        t0 = time.time()
        for batch_idx, batch in enumerate(batches(n_steps)):
            self.global_step += 1
            loss = self._train_step(batch)
            # keep the running sum lazy, only materialise it for logging
            epoch_loss = epoch_loss + loss
            if self.global_step % self.logging_steps == 0:
                print(f"Step {self.global_step} - Loss: {loss.item():.4f} "
                      f"({(time.time() - t0) / (batch_idx + 1) * 1000:.1f} ms/step)", flush=True)
        mx.eval(epoch_loss)
        return epoch_loss.item() / n_steps


model = TinyLM()
mx.eval(model.parameters())
trainer = Trainer(model, logging_steps=50)
avg = trainer.train_epoch(n_steps=450, epoch=0)
print(f"Epoch 0: avg loss {avg:.4f}", flush=True)
