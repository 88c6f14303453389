# Tiny Qwen2-VL-style caption SFT: variable-size images give a variable number of
# patch rows per sample; the collator batches them like mlx-vlm's sft_trainer.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
PATCH_DIM, DIMS, VOCAB = 12, 32, 40
BOS, IMG, SEP, EOS = 1, 2, 3, 4
GRIDS = [(1, 2, 2), (1, 2, 3), (1, 3, 3)]
PROTOS = rng.normal(size=(4, PATCH_DIM)).astype(np.float32)


def make_sample():
    cls = int(rng.integers(4))
    grid = GRIDS[int(rng.integers(len(GRIDS)))]
    n = grid[0] * grid[1] * grid[2]
    pix = PROTOS[cls] + 0.6 * rng.normal(size=(n, PATCH_DIM)).astype(np.float32)
    ids = [BOS] + [IMG] * n + [SEP, 10 + cls, 20 + cls, EOS]
    comp = [0] * (n + 2) + [1, 1, 1]
    return {
        "input_ids": mx.array([ids]),
        "completion_mask": mx.array([comp]),
        "pixel_values": mx.array(pix[None]),
        "image_grid_thw": mx.array([grid]),
        "label": cls,
    }


train_set = [make_sample() for _ in range(96)]
valid_set = [make_sample() for _ in range(32)]


def _squeeze_leading_batch_dim(value):
    if isinstance(value, mx.array) and value.ndim > 0 and value.shape[0] == 1:
        return value[0]
    return value


def _collate_arrays(values):
    """Stack same-shaped arrays, or concatenate variable-length feature rows."""
    try:
        return mx.stack(values)
    except ValueError:
        first = values[0]
        if (
            isinstance(first, mx.array)
            and first.ndim > 1
            and all(
                isinstance(v, mx.array)
                and v.ndim == first.ndim
                and v.shape[1:] == first.shape[1:]
                for v in values
            )
        ):
            return mx.concatenate(values, axis=0)
        raise


def iterate_batches(dataset, batch_size, train=False):
    idx = np.arange(len(dataset))
    if train:
        rng.shuffle(idx)
    for s in range(0, len(idx) - batch_size + 1, batch_size):
        items = [dataset[i] for i in idx[s : s + batch_size]]
        padded_len = 16
        ids = np.zeros((len(items), padded_len), dtype=np.int32)
        att = np.zeros((len(items), padded_len), dtype=np.int32)
        comp = np.zeros((len(items), padded_len), dtype=np.int32)
        for i, item in enumerate(items):
            arr = np.array(_squeeze_leading_batch_dim(item["input_ids"])).reshape(-1)
            L = len(arr)
            ids[i, :L] = arr
            att[i, :L] = 1
            comp[i, :L] = np.array(item["completion_mask"]).reshape(-1)
        pixel_values = _collate_arrays(
            [_squeeze_leading_batch_dim(item["pixel_values"]) for item in items]
        )
        batch = {
            "input_ids": mx.array(ids),
            "attention_mask": mx.array(att),
            "completion_mask": mx.array(comp),
            "pixel_values": pixel_values,
            "labels": mx.array([it["label"] for it in items]),
        }
        vals = [_squeeze_leading_batch_dim(item["image_grid_thw"]) for item in items]
        try:
            batch["image_grid_thw"] = _collate_arrays(vals)
        except Exception:
            batch["image_grid_thw"] = vals[0]
        yield batch


class TinyVL(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIMS)
        self.pos = nn.Embedding(16, DIMS)
        self.patch_proj = nn.Sequential(nn.Linear(PATCH_DIM, DIMS), nn.GELU(), nn.Linear(DIMS, DIMS))
        self.blocks = nn.TransformerEncoder(2, DIMS, 4, mlp_dims=64)
        self.head = nn.Linear(DIMS, VOCAB)

    def __call__(self, input_ids, pixel_values):
        B, T = input_ids.shape
        h = self.embed(input_ids)
        feats = self.patch_proj(pixel_values.reshape(-1, PATCH_DIM))
        is_img = (input_ids == IMG).reshape(-1)
        slot = mx.maximum(mx.cumsum(is_img.astype(mx.int32)) - 1, 0)
        placed = feats[slot]
        h = mx.where(is_img[:, None], placed, h.reshape(B * T, DIMS)).reshape(B, T, DIMS)
        h = h + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        return self.head(self.blocks(h, mask))


def loss_fn(model, batch):
    ids = batch["input_ids"]
    logits = model(ids[:, :-1], batch["pixel_values"])
    targets = ids[:, 1:]
    w = (batch["completion_mask"][:, 1:] * batch["attention_mask"][:, 1:]).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets)
    return (ce * w).sum() / mx.maximum(w.sum(), 1)


def caption_acc(model, dataset):
    hits = 0
    for b in iterate_batches(dataset, 4):
        ids = b["input_ids"]
        logits = model(ids[:, :-1], b["pixel_values"])
        sep_pos = mx.argmax((ids == SEP).astype(mx.int32), axis=1)
        pred = mx.take_along_axis(mx.argmax(logits, -1), sep_pos[:, None], 1)[:, 0]
        hits += int(((pred - 10) == b["labels"]).sum().item())
    return 100.0 * hits / len(dataset)


mx.random.seed(0)
model = TinyVL()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)

step = 0
for epoch in range(1, 7):
    running, n = 0.0, 0
    for batch in iterate_batches(train_set, 4, train=True):
        loss, grads = loss_and_grad(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        running += loss.item()
        n += 1
        if step % 24 == 0:
            print(f"Iter {step}: train loss {running / n:.3f}")
    val = 0.0
    vb = 0
    for b in iterate_batches(valid_set, 4):
        val += loss_fn(model, b).item()
        vb += 1
    print(f"Epoch {epoch}: val loss {val / vb:.3f}, caption acc {caption_acc(model, valid_set):.1f}%")
