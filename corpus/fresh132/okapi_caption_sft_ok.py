# Tiny vision-language SFT loop in the style of mlx-vlm's sft_trainer:
# a processor-like dataset returns input_ids shaped (1, seq), batches are padded
# to a multiple of 32, loss is next-token CE over the attention mask.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

V, SEQ, NCLS, FEAT, PROMPT = 48, 96, 8, 8, 40
rng = np.random.default_rng(7)


def make_item(c):
    pix = np.eye(NCLS, FEAT, dtype=np.float32)[c] * 2.0 + rng.normal(0, 0.3, FEAT).astype(np.float32)
    ids = np.zeros(SEQ, dtype=np.int32)
    ids[:PROMPT] = np.arange(PROMPT) % 16  # fixed chat-template prompt
    for t in range(PROMPT, SEQ):  # caption depends on the image
        ids[t] = 16 + (c * 5 + t) % 32
    # processor output keeps a leading batch dim
    return {"input_ids": ids[None, :], "attention_mask": np.ones((1, SEQ), np.int32), "pixel_values": pix[None, :]}


train_set = [make_item(int(c)) for c in rng.integers(0, NCLS, 256)]
val_set = [make_item(int(c)) for c in rng.integers(0, NCLS, 64)]


def _squeeze_leading_batch_dim(value):
    if isinstance(value, np.ndarray) and value.ndim > 0 and value.shape[0] == 1:
        return value[0]
    return value


def _flat_seq_len(value):
    return np.array(_squeeze_leading_batch_dim(value)).reshape(-1).shape[0]


def iterate_batches(dataset, batch_size, max_seq_length):
    order = np.random.permutation(len(dataset))
    for s in range(0, len(dataset) - batch_size + 1, batch_size):
        items = [dataset[i] for i in order[s : s + batch_size]]
        lengths = [min(_flat_seq_len(x["input_ids"]), max_seq_length) for x in items]
        max_len = min(max(lengths), max_seq_length)
        pad_to = 32
        padded_len = 1 + pad_to * ((max_len + pad_to - 1) // pad_to)
        padded_len = min(padded_len, max_seq_length)
        ids = np.zeros((len(items), padded_len), np.int32)
        am = np.zeros((len(items), padded_len), np.int32)
        for i, item in enumerate(items):
            arr = np.array(_squeeze_leading_batch_dim(item["input_ids"])).reshape(-1)
            L = min(len(arr), padded_len)
            ids[i, :L] = arr[:L]
            am[i, :L] = np.array(item["attention_mask"]).reshape(-1)[:L]
        pix = np.stack([_squeeze_leading_batch_dim(x["pixel_values"]) for x in items])
        yield mx.array(ids), mx.array(am), mx.array(pix)


class TinyVLM(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(160, d)
        self.vision_proj = nn.Linear(FEAT, d)
        self.mlp = nn.Sequential(nn.Linear(d, 128), nn.GELU(), nn.Linear(128, d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, V)

    def __call__(self, ids, pix):
        T = ids.shape[1]
        h = self.tok(ids) + self.pos(mx.arange(T))[None] + self.vision_proj(pix)[:, None, :]
        h = h + self.mlp(h)
        return self.head(self.norm(h))


def loss_fn(model, ids, am, pix):
    logits = model(ids[:, :-1], pix)
    ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
    m = am[:, 1:].astype(mx.float32)
    return (ce * m).sum() / mx.maximum(m.sum(), 1)


def caption_accuracy(model):
    ids = mx.array(np.concatenate([x["input_ids"] for x in val_set]))
    pix = mx.array(np.concatenate([x["pixel_values"] for x in val_set]))
    pred = mx.argmax(model(ids[:, :-1], pix), axis=-1)
    hit = (pred == ids[:, 1:])[:, PROMPT - 1 :]
    return mx.mean(hit.astype(mx.float32)).item()


mx.random.seed(0)
np.random.seed(0)
model = TinyVLM()
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"caption acc before training: {caption_accuracy(model):.3f} (chance {1/32:.3f})")
it = 0
for epoch in range(1, 9):
    tic, losses, ntok = time.perf_counter(), [], 0
    for ids, am, pix in iterate_batches(train_set, 16, max_seq_length=128):
        loss, grads = step_fn(model, ids, am, pix)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        ntok += int(am.sum().item())
        it += 1
    dt = time.perf_counter() - tic
    print(
        f"Epoch {epoch} | it {it} | train_loss {np.mean(losses):.4f} | seq_len {ids.shape[1]} "
        f"| {ntok / dt:.0f} tok/s | val caption_acc {caption_accuracy(model):.3f}"
    )
print(f"final caption accuracy: {caption_accuracy(model):.3f}")
