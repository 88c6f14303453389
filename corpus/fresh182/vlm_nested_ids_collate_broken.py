"""Completion-only SFT of a tiny 'VLM-style' decoder on synthetic caption tasks.

Each example = [BOS] + 30 image patch codes + [USER] + question + [ASSISTANT] + answer + [EOS].
Examples come out of the 'processor' with a leading batch dim, like HF processors
(input_ids shaped [1, L]). The collate pads to a multiple of 32 (+1), as in mlx-vlm.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

PAD, BOS, USER, ASSISTANT, EOS = 0, 1, 2, 3, 4
VOCAB = 64
N_PATCH = 30


def processor(rng):
    patches = rng.integers(8, VOCAB, size=N_PATCH).tolist()
    q = rng.integers(8, VOCAB, size=4).tolist()
    key = q[-1]
    answer = [key, 8 + (key - 8 + 1) % 56, 8 + (key - 8 + 2) % 56]
    ids = [BOS] + patches + [USER] + q + [ASSISTANT] + answer + [EOS]
    return {"input_ids": [ids], "attention_mask": [[1] * len(ids)]}


def iterate_batches(dataset, batch_size, max_seq_length, rng, train=True):
    idx = rng.permutation(len(dataset)) if train else np.arange(len(dataset))
    for s in range(0, len(idx) - batch_size + 1, batch_size):
        items = [dataset[i] for i in idx[s:s + batch_size]]
        lengths = [min(len(x["input_ids"]), max_seq_length) for x in items]
        max_len = min(max(lengths), max_seq_length)
        pad_to = 32
        padded_len = 1 + pad_to * ((max_len + pad_to - 1) // pad_to)
        padded_len = min(padded_len, max_seq_length)
        input_ids_batch = np.zeros((len(items), padded_len), dtype=np.int32)
        attention_mask_batch = np.zeros((len(items), padded_len), dtype=np.int32)
        for i, item in enumerate(items):
            arr = np.array(item["input_ids"]).reshape(-1)
            L = min(len(arr), padded_len)
            input_ids_batch[i, :L] = arr[:L]
            mask = np.array(item["attention_mask"]).reshape(-1)
            attention_mask_batch[i, :L] = mask[:L]
        yield {"input_ids": mx.array(input_ids_batch), "attention_mask": mx.array(attention_mask_batch)}


class TinyDecoder(nn.Module):
    def __init__(self, dims=64, heads=4, layers=2, max_len=128):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = nn.TransformerEncoder(layers, dims, heads, mlp_dims=4 * dims)
        self.head = nn.Linear(dims, VOCAB)

    def __call__(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.blocks(h, mask))


def vision_language_loss_fn(model, batch, train_on_completions=True, assistant_id=ASSISTANT):
    input_ids = batch["input_ids"]
    attention_mask = batch["attention_mask"]
    batch_size, seq_length = input_ids.shape
    if train_on_completions:
        weight_mask = mx.ones_like(attention_mask)
        assistant_response_index = np.full((batch_size,), -1, dtype=np.int32)
        for row_idx, row in enumerate(np.array(input_ids)):
            positions = np.where(row == assistant_id)[0]
            if positions.size > 0:
                assistant_response_index[row_idx] = positions[0]
        range_matrix = mx.repeat(mx.expand_dims(mx.arange(seq_length), 0), batch_size, axis=0)
        assistant_mask = range_matrix <= mx.array(assistant_response_index).reshape(-1, 1)
        weight_mask = mx.where(assistant_mask, mx.zeros_like(weight_mask), weight_mask)[:, 1:]
    else:
        weight_mask = None
    logits = model(input_ids[:, :-1]).astype(mx.float32)
    targets = input_ids[:, 1:]
    loss_mask = attention_mask[:, 1:].astype(mx.float32)
    if weight_mask is not None:
        loss_mask = loss_mask * weight_mask
    ce = nn.losses.cross_entropy(logits, targets) * loss_mask
    ntoks = mx.maximum(loss_mask.sum(), 1)
    return ce.sum() / ntoks, ntoks


def answer_accuracy(model, val_items):
    # teacher-forced argmax over the 3 answer tokens, on the full (unpadded) sequence
    ids = mx.array(np.stack([np.asarray(x["input_ids"]).reshape(-1) for x in val_items]))
    a = int(np.where(np.array(ids[0]) == ASSISTANT)[0][0])
    logits = model(ids[:, :-1])
    pred = mx.argmax(logits[:, a:a + 3], axis=-1)
    tgt = ids[:, a + 1:a + 4]
    tok_acc = (pred == tgt).astype(mx.float32).mean().item()
    exact = mx.all(pred == tgt, axis=-1).astype(mx.float32).mean().item()
    return tok_acc, exact


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    train_set = [processor(rng) for _ in range(2048)]
    val_set = [processor(rng) for _ in range(128)]
    model = TinyDecoder()
    optimizer = optim.Adam(learning_rate=1e-3)
    loss_and_grad = nn.value_and_grad(model, vision_language_loss_fn)
    max_seq_length, batch_size, iters = 2048, 16, 160
    print(f"train={len(train_set)} val={len(val_set)} seq_len={len(train_set[0]['input_ids'][0])} iters={iters}")

    step, tic, running, ntok_sum = 0, time.perf_counter(), 0.0, 0.0
    while step < iters:
        for batch in iterate_batches(train_set, batch_size, max_seq_length, rng):
            (loss, ntoks), grads = loss_and_grad(model, batch)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss, ntoks)
            running += loss.item()
            ntok_sum += ntoks.item()
            step += 1
            if step % 20 == 0:
                vl = [vision_language_loss_fn(model, b)[0].item()
                      for b in iterate_batches(val_set, 64, max_seq_length, rng, train=False)]
                tok_acc, exact = answer_accuracy(model, val_set)
                print(f"Iter {step}: train loss {running / 20:.3f}, val loss {np.mean(vl):.3f}, "
                      f"answer tok acc {100 * tok_acc:.1f}%, exact {100 * exact:.1f}%, "
                      f"supervised toks/step {ntok_sum / 20:.0f}, {20 / (time.perf_counter() - tic):.1f} it/s")
                running, ntok_sum, tic = 0.0, 0.0, time.perf_counter()
            if step >= iters:
                break
    print(f"Done. final exact-match {100 * answer_accuracy(model, val_set)[1]:.1f}% (chance {100 / 56 ** 3:.4f}%)")


if __name__ == "__main__":
    main()
