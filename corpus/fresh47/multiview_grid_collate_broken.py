# Multi-view "photo album" classifier: every example carries 1 or 2 views, each
# view is a T x H x W grid of patch features that gets spliced into the token
# stream at <img> placeholder positions (Qwen2-VL style), then pooled.
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("album")

PAD, IMG, CLS, Q1, Q2 = 0, 1, 2, 3, 4
VOCAB = 8
PATCH_DIM = 12
GRID = (1, 2, 3)               # t, h, w  -> 6 patches per view
PER_VIEW = int(np.prod(GRID))
N_CLASSES = 4
rs = np.random.default_rng(11)
W_TRUE = rs.normal(size=(PATCH_DIM, N_CLASSES)).astype(np.float32)


def make_example():
    n_views = int(rs.integers(1, 3))
    patches = rs.normal(size=(n_views * PER_VIEW, PATCH_DIM)).astype(np.float32)
    label = int(np.argmax(patches.mean(0) @ W_TRUE))
    ids = [CLS] + [IMG] * (n_views * PER_VIEW) + [int(rs.choice([Q1, Q2]))]
    return {
        "input_ids": mx.array(ids, dtype=mx.int32)[None],          # (1, L)
        "pixel_values": mx.array(patches),                           # (views*P, D)
        "image_grid_thw": mx.array([GRID] * n_views, dtype=mx.int32),  # (views, 3)
        "label": label,
    }


def _squeeze_leading_batch_dim(x):
    return x[0] if isinstance(x, mx.array) and x.ndim > 1 and x.shape[0] == 1 else x


def _collate_arrays(values):
    """Stack same-shaped arrays, or concatenate variable-length feature rows."""
    try:
        return mx.stack(values)
    except ValueError:
        first = values[0]
        if first.ndim > 1 and all(v.ndim == first.ndim and v.shape[1:] == first.shape[1:]
                                  for v in values):
            return mx.concatenate(values, axis=0)
        raise


def collate(items):
    L = max(it["input_ids"].shape[-1] for it in items)
    ids = np.zeros((len(items), L), dtype=np.int32)
    for i, it in enumerate(items):
        row = np.array(_squeeze_leading_batch_dim(it["input_ids"]))
        ids[i, :row.shape[0]] = row
    batch = {
        "input_ids": mx.array(ids),
        "pixel_values": _collate_arrays([it["pixel_values"] for it in items]),
        "labels": mx.array([it["label"] for it in items]),
    }
    for k in ("image_grid_thw",):
        vals = [_squeeze_leading_batch_dim(it[k]) for it in items]
        batch[k] = _collate_arrays(vals)
    return batch


class AlbumModel(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dim)
        self.patch = nn.Linear(PATCH_DIM, dim)
        self.block = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, 2 * dim), nn.SiLU(),
                                   nn.Linear(2 * dim, dim))
        self.out = nn.Linear(dim, N_CLASSES)

    def __call__(self, input_ids, pixel_values, image_grid_thw):
        n_feat = pixel_values.shape[0]
        is_img = input_ids == IMG
        n_tok = int(is_img.sum().item())
        n_grid = int(image_grid_thw.reshape(-1, 3).prod(-1).sum().item())
        if not (n_tok == n_feat == n_grid):
            raise ValueError(f"Image features and image tokens do not match: "
                             f"tokens={n_tok} features={n_feat} grid={n_grid}")
        feats = self.patch(pixel_values)
        gather = mx.maximum(mx.cumsum(is_img.reshape(-1).astype(mx.int32)) - 1, 0)
        spliced = feats[gather].reshape(*input_ids.shape, -1)
        h = mx.where(is_img[..., None], spliced, self.tok(input_ids))
        h = h + self.block(h)
        keep = (input_ids != PAD)[..., None].astype(h.dtype)
        return self.out((h * keep).sum(1) / keep.sum(1))


def loss_fn(model, batch):
    logits = model(batch["input_ids"], batch["pixel_values"], batch["image_grid_thw"])
    return nn.losses.cross_entropy(logits, batch["labels"]).mean()


def batches(data, bs, shuffle):
    order = rs.permutation(len(data)) if shuffle else np.arange(len(data))
    for s in range(0, len(order), bs):
        yield collate([data[i] for i in order[s:s + bs]])


def main():
    mx.random.seed(3)
    train = [make_example() for _ in range(3000)]
    val = [make_example() for _ in range(600)]
    model = AlbumModel()
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(model, loss_fn)
    log.info("train=%d val=%d grid=%s", len(train), len(val), GRID)
    t0 = time.perf_counter()
    for epoch in range(8):
        losses = []
        for batch in batches(train, 24, True):
            loss, grads = vg(model, batch)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            losses.append(loss.item())
        hits = 0
        for batch in batches(val, 100, False):
            logits = model(batch["input_ids"], batch["pixel_values"], batch["image_grid_thw"])
            hits += (logits.argmax(-1) == batch["labels"]).sum().item()
        log.info("epoch=%d loss=%.4f val_acc=%.3f elapsed=%.1fs", epoch, float(np.mean(losses)),
                 hits / len(val), time.perf_counter() - t0)


if __name__ == "__main__":
    main()
