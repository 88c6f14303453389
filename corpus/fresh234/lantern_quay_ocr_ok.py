"""Quay-side cargo tag reader: supervised fine-tuning of a tiny vision-language model.

Tags come in two print layouts (wide 8x16 dock labels, tall 16x8 yard labels).
The model reads the 4-digit tag code after a <read> prompt.  Training runs a
dock-only warm stage, then a mixed stage where yard labels join the batches.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PAD, BOS, EOS, IMG, READ = 0, 1, 2, 3, 4
DIGIT0 = 5
VOCAB = DIGIT0 + 10
PATCH = 4
N_PATCH = 8
SEQ = 1 + N_PATCH + 1 + 4 + 1

rng = np.random.default_rng(7)
GLYPHS = (rng.random((10, PATCH, PATCH)) > 0.5).astype(np.float32)
INK = np.array([0.9, 0.2, 0.1], dtype=np.float32)


def render_tag(code, layout):
    """Return a channels-first float image of a tag printed with `code`."""
    if layout == "dock":
        h, w = 2 * PATCH, 4 * PATCH
        cells = [(0, c) for c in range(4)]
    else:
        h, w = 4 * PATCH, 2 * PATCH
        cells = [(r, 0) for r in range(4)]
    img = 0.15 * rng.standard_normal((3, h, w)).astype(np.float32)
    for d, (r, c) in zip(code, cells):
        g = GLYPHS[d]
        img[:, r * PATCH:(r + 1) * PATCH, c * PATCH:(c + 1) * PATCH] += INK[:, None, None] * g
    return img


def make_example(layout):
    code = rng.integers(0, 10, size=4)
    ids = [BOS] + [IMG] * N_PATCH + [READ] + [DIGIT0 + int(d) for d in code] + [EOS]
    labels = [-100] * (1 + N_PATCH + 1) + ids[1 + N_PATCH + 1:]
    return {"pixel_values": render_tag(code, layout), "input_ids": ids, "labels": labels}


def collate(examples):
    return {
        "input_ids": [ex["input_ids"] for ex in examples],
        "pixel_values": [ex["pixel_values"] for ex in examples],
        "labels": [ex["labels"] for ex in examples],
    }


_AUDIO_FEATURE_PAYLOAD_KEYS = (
    "input_features", "input_audio_embeds", "audio_features",
)

_VLM_RAGGED_MEDIA_PAYLOAD_KEYS = (*_AUDIO_FEATURE_PAYLOAD_KEYS, "pixel_values")


def _to_mx_vlm_batch(inputs):
    batch = {}
    for key, value in inputs.items():
        if isinstance(value, mx.array):
            batch[key] = value
        elif hasattr(value, "shape"):
            batch[key] = mx.array(value)
        elif isinstance(value, list) and len(value) > 0 and hasattr(value[0], "shape"):
            try:
                batch[key] = mx.stack([
                    mx.array(x) if not isinstance(x, mx.array) else x
                    for x in value
                ])
            except Exception:
                if key in _VLM_RAGGED_MEDIA_PAYLOAD_KEYS and len(value) > 1:
                    batch[key] = [
                        x if isinstance(x, mx.array) else mx.array(np.asarray(x))
                        for x in value
                    ]
                else:
                    batch[key] = mx.array(value[0]) if not isinstance(value[0], mx.array) else value[0]
        else:
            batch[key] = value

    for key in ("input_ids", "labels"):
        if key in batch and not isinstance(batch[key], mx.array):
            batch[key] = mx.array(batch[key])
        if key in batch and len(batch[key].shape) == 1:
            batch[key] = batch[key].reshape((1, -1))
    return batch


class VisionTower(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.patch_proj = nn.Linear(3 * PATCH * PATCH, dim)
        self.grid_pos = nn.Embedding(16, dim)
        self.norm = nn.LayerNorm(dim)

    def encode(self, imgs):
        n, c, h, w = imgs.shape
        gh, gw = h // PATCH, w // PATCH
        x = imgs.transpose(0, 2, 3, 1).reshape(n, gh, PATCH, gw, PATCH, c)
        x = x.transpose(0, 1, 3, 2, 4, 5).reshape(n * gh * gw, PATCH * PATCH * c)
        rows = np.repeat(np.arange(gh), gw)
        cols = np.tile(np.arange(gw), gh)
        pos = mx.array(np.tile(rows * 4 + cols, n))
        return self.norm(self.patch_proj(x) + self.grid_pos(pos))

    def __call__(self, pixel_values):
        if isinstance(pixel_values, list):
            return mx.concatenate([self.encode(img[None]) for img in pixel_values], axis=0)
        if pixel_values.ndim == 3:
            pixel_values = pixel_values[None]
        return self.encode(pixel_values)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(dim)
        self.attn = nn.MultiHeadAttention(dim, heads)
        self.ln2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TagReader(nn.Module):
    def __init__(self, dim=64, heads=4, layers=1):
        super().__init__()
        self.vision_tower = VisionTower(dim)
        self.projector = nn.Linear(dim, dim)
        self.embed = nn.Embedding(VOCAB, dim)
        self.pos = nn.Embedding(SEQ, dim)
        self.blocks = [Block(dim, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, VOCAB)

    def merge_image_features(self, input_ids, pixel_values):
        embeds = self.embed(input_ids)
        b, t, d = embeds.shape
        feats = self.projector(self.vision_tower(pixel_values))
        ids_np = np.array(input_ids).reshape(-1)
        where = np.nonzero(ids_np == IMG)[0]
        if len(where) != feats.shape[0]:
            raise ValueError(
                f"Image features and image tokens do not match: tokens: {len(where)}, features {feats.shape[0]}"
            )
        flat = embeds.reshape(b * t, d)
        flat[mx.array(where)] = feats
        return flat.reshape(b, t, d)

    def __call__(self, input_ids, pixel_values):
        x = self.merge_image_features(input_ids, pixel_values)
        t = x.shape[1]
        x = x + self.pos(mx.arange(t))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(t)
        for blk in self.blocks:
            x = blk(x, mask)
        return self.head(self.ln_f(x))


def loss_fn(model, batch):
    ids = batch["input_ids"]
    logits = model(ids[:, :-1], batch["pixel_values"])
    targets = batch["labels"][:, 1:]
    valid = targets != -100
    ce = nn.losses.cross_entropy(logits, mx.where(valid, targets, 0), reduction="none")
    return (ce * valid).sum() / valid.sum()


def read_accuracy(model, examples):
    batch = _to_mx_vlm_batch(collate(examples))
    logits = model(batch["input_ids"][:, :-1], batch["pixel_values"])
    pred = mx.argmax(logits[:, 1 + N_PATCH:1 + N_PATCH + 4], axis=-1)
    gold = batch["input_ids"][:, 2 + N_PATCH:2 + N_PATCH + 4]
    return mx.mean(mx.all(pred == gold, axis=-1)).item()


def main():
    mx.random.seed(0)
    model = TagReader()
    opt = optim.Adam(learning_rate=2e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    held_dock = [make_example("dock") for _ in range(128)]
    held_yard = [make_example("yard") for _ in range(128)]
    stages = [("dock", 150, ["dock"]), ("mixed", 200, ["dock", "yard"])]
    batch_size = 16
    step = 0
    t0 = time.time()
    print(f"params {sum(v.size for _, v in tree_flatten(model.parameters()))}")
    for name, n_steps, layouts in stages:
        print(f"== stage {name}: layouts {layouts}, {n_steps} steps")
        running = []
        for _ in range(n_steps):
            step += 1
            examples = [make_example(layouts[rng.integers(len(layouts))]) for _ in range(batch_size)]
            batch = _to_mx_vlm_batch(collate(examples))
            loss, grads = step_fn(model, batch)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running.append(loss.item())
            if step % 50 == 0:
                acc_d = read_accuracy(model, held_dock)
                acc_y = read_accuracy(model, held_yard)
                print(f"step {step:4d} | {name:5s} | loss {np.mean(running):.4f} | "
                      f"exact dock {acc_d:.3f} yard {acc_y:.3f} | {time.time() - t0:.1f}s")
                running = []
    print(f"final exact-read dock {read_accuracy(model, held_dock):.3f} "
          f"yard {read_accuracy(model, held_yard):.3f}")


if __name__ == "__main__":
    main()
