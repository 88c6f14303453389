# Completion-only fine-tune of a tiny chat transformer (echo task).
# Stage 1: single-turn chats.  Stage 2: adds multi-turn chats.
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, USER, ASSISTANT, EOS = 0, 1, 2, 3
VOCAB = 24
SEQ = 24
random.seed(7)
mx.random.seed(7)


def single_turn():
    n = random.randint(2, 4)
    msg = [random.randint(4, VOCAB - 1) for _ in range(n)]
    return [USER] + msg + [ASSISTANT] + msg + [EOS]


def multi_turn():
    return single_turn()[:-1] + single_turn()


def pad(row):
    row = row[:SEQ]
    return row + [PAD] * (SEQ - len(row))


def make_batches(rows, bs):
    random.shuffle(rows)
    for i in range(0, len(rows) - bs + 1, bs):
        chunk = rows[i : i + bs]
        ids = mx.array([pad(r) for r in chunk])
        att = mx.array([[1] * min(len(r), SEQ) + [0] * (SEQ - min(len(r), SEQ)) for r in chunk])
        yield {"input_ids": ids, "attention_mask": att}


class TinyChat(nn.Module):
    def __init__(self, dims=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=96)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, ids):
        L = ids.shape[1]
        h = self.tok(ids) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.blocks(h, mask))


def chat_loss_fn(model, batch, train_on_completions=True, assistant_id=ASSISTANT):
    input_ids = batch["input_ids"]
    attention_mask = batch["attention_mask"]
    batch_size, seq_length = input_ids.shape

    if train_on_completions:
        weight_mask = mx.ones_like(attention_mask)
        assistant_response_index = np.where(input_ids == assistant_id)[1]
        range_matrix = mx.repeat(mx.expand_dims(mx.arange(seq_length), 0), batch_size, axis=0)
        assistant_mask = range_matrix <= mx.array(assistant_response_index).reshape(-1, 1)
        weight_mask = mx.where(assistant_mask, mx.zeros_like(weight_mask), weight_mask)[:, 1:]
    else:
        weight_mask = attention_mask[:, 1:]

    inputs = input_ids[:, :-1]
    labels = input_ids[:, 1:]
    logits = model(inputs)
    weight_mask = weight_mask * attention_mask[:, 1:]
    ce = nn.losses.cross_entropy(logits, labels) * weight_mask
    ntoks = weight_mask.sum()
    return ce.sum() / ntoks, ntoks


model = TinyChat()
optimizer = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, chat_loss_fn)

stages = [
    ("single-turn", [single_turn() for _ in range(256)], 3),
    ("mixed-turn", [single_turn() for _ in range(128)] + [multi_turn() for _ in range(128)], 3),
]
step = 0
t0 = time.time()
for name, rows, epochs in stages:
    print(f"== stage {name}: {len(rows)} chats, {epochs} epochs")
    for ep in range(epochs):
        tot, toks = 0.0, 0
        for batch in make_batches(rows, 16):
            (loss, ntoks), grads = loss_and_grad(model, batch)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss, ntoks)
            step += 1
            tot += loss.item() * ntoks.item()
            toks += int(ntoks.item())
            if step % 8 == 0:
                print(f"step {step:4d} | {name} ep{ep} | completion-loss {loss.item():.4f} | tok {int(ntoks.item())}")
        print(f"-- {name} epoch {ep}: mean completion-loss {tot / max(toks, 1):.4f} over {toks} tokens")
print(f"done in {time.time() - t0:.1f}s, {step} steps")
