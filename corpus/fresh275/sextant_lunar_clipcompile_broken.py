"""Tiny BERT-style classifier on templated passenger text (Titanic-like, synthetic).

Compiled train step with global-norm gradient clipping, AdamW + linear warmup.
"""
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

VOCAB = 64
SEQ = 12
DIM = 64
HEADS = 4
LAYERS = 2
BATCH = 32
EPOCHS = 3
MAX_GRAD_NORM = 1.0


def make_rows(n, rng):
    # token layout: [CLS] class sex age_bucket fare_bucket port sibsp parch pad...
    cls_ = rng.integers(0, 3, n)
    sex = rng.integers(0, 2, n)
    age = rng.integers(0, 8, n)
    fare = rng.integers(0, 8, n)
    port = rng.integers(0, 3, n)
    sib = rng.integers(0, 4, n)
    par = rng.integers(0, 4, n)
    logit = 1.6 * sex - 0.9 * cls_ + 0.25 * fare - 0.15 * age + 0.3 * (port == 1) - 0.2 * sib
    p = 1.0 / (1.0 + np.exp(-(logit - 0.2)))
    y = (rng.random(n) < p).astype(np.int32)
    toks = np.zeros((n, SEQ), dtype=np.int32)
    toks[:, 0] = 1
    toks[:, 1] = 2 + cls_
    toks[:, 2] = 6 + sex
    toks[:, 3] = 10 + age
    toks[:, 4] = 20 + fare
    toks[:, 5] = 30 + port
    toks[:, 6] = 35 + sib
    toks[:, 7] = 40 + par
    return toks, y


class TinyBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.encoder = nn.TransformerEncoder(LAYERS, DIM, HEADS, mlp_dims=2 * DIM, dropout=0.1)
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, input_ids, labels):
        h = self.tok(input_ids) + self.pos(mx.arange(input_ids.shape[1]))
        mask = (input_ids == 0)[:, None, None, :] * -1e9
        h = self.encoder(h, mask)
        logits = self.head(self.drop(h[:, 0]))
        loss = nn.losses.cross_entropy(logits, labels, reduction="mean")
        return {"loss": loss, "logits": logits}


def has_dropout(model):
    return any(isinstance(m, nn.Dropout) for m in model.modules())


def clip_gradients_compiled(grads, max_norm):
    total_norm_sq = 0.0
    flat_grads = tree_flatten(grads)
    for g in flat_grads:
        if g is not None:
            total_norm_sq = total_norm_sq + mx.sum(g * g)

    total_norm = mx.sqrt(total_norm_sq)
    clip_factor = mx.minimum(1.0, max_norm / (total_norm + 1e-6))
    return tree_map(lambda g: g * clip_factor if g is not None else None, grads)


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xtr, ytr = make_rows(1536, rng)
    xva, yva = make_rows(512, rng)

    model = TinyBert()
    mx.eval(model.parameters())
    steps_per_epoch = len(xtr) // BATCH
    total = EPOCHS * steps_per_epoch
    warm = 24
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-5, 1e-3, warm), optim.cosine_decay(1e-3, total - warm, 1e-5)], [warm]
    )
    optimizer = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    state = [model.state, optimizer.state]
    if has_dropout(model):
        state.append(mx.random.state)
        print("added mx.random.state to compiled state (dropout present)")

    def loss_fn(model, batch):
        out = model(**batch)
        return out["loss"], out

    value_and_grad_fn = nn.value_and_grad(model, loss_fn)

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(batch):
        (loss, out), grads = value_and_grad_fn(model, batch)
        if MAX_GRAD_NORM > 0:
            grads = clip_gradients_compiled(grads, MAX_GRAD_NORM)
        optimizer.update(model, grads)
        return loss, optimizer.learning_rate

    def evaluate():
        model.eval()
        out = model(input_ids=mx.array(xva), labels=mx.array(yva))
        acc = mx.mean(mx.argmax(out["logits"], axis=-1) == mx.array(yva)).item()
        model.train()
        return out["loss"].item(), acc

    base = max(yva.mean(), 1 - yva.mean())
    print(f"train rows {len(xtr)}  val rows {len(xva)}  majority-class val acc {base:.3f}")
    model.train()
    t0 = time.time()
    step = 0
    for epoch in range(EPOCHS):
        perm = rng.permutation(len(xtr))
        running = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            batch = {"input_ids": mx.array(xtr[idx]), "labels": mx.array(ytr[idx])}
            loss, lr = train_step(batch)
            mx.eval(state)
            running += loss.item()
            step += 1
            if step % 20 == 0:
                print(f"step {step:4d}  loss {loss.item():.4f}  lr {lr.item():.2e}")
        vl, va = evaluate()
        print(f"epoch {epoch + 1}  train_loss {running / steps_per_epoch:.4f}  val_loss {vl:.4f}  val_acc {va:.3f}")
    print(f"done in {time.time() - t0:.1f}s  final val_acc {va:.3f} (baseline {base:.3f})")


if __name__ == "__main__":
    main()
