"""Caption fine-tune of a tiny phi4mm-like vision-language model."""
import json
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 64
PATCHES = 4
SEQ_TEXT = 8
N_CLASSES = 4


@dataclass
class ModelConfig:
    model_type: str = "phi4mm"
    hidden_size: int = 64
    vocab_size: int = VOCAB
    image_token_index: int = 60
    audio_token_index: int = 61
    bos_token_id: int = 1
    eos_token_id: int = 2


# checkpoint config.json
CHECKPOINT_CONFIG = json.loads(
    '{"model_type": "phi4mm", "hidden_size": 64, "vocab_size": 64,'
    ' "bos_token_id": 1, "eos_token_id": 2}'
)


def _config_get(config, key, default=None):
    if isinstance(config, dict):
        return config.get(key, default)
    return getattr(config, key, default)


def _phi4mm_token_ids(config):
    image_id = _config_get(config, "image_token_index")
    audio_id = _config_get(config, "audio_token_index")
    if image_id is None or audio_id is None:
        fields = ModelConfig.__dataclass_fields__
        if image_id is None:
            image_id = fields["image_token_index"].default
        if audio_id is None:
            audio_id = fields["audio_token_index"].default
    return int(image_id), int(audio_id)


def _expand_token_runs(input_ids, attention_mask, replacements_by_batch, labels):
    rows_ids, rows_mask, rows_labels = [], [], []
    for b, reps in enumerate(replacements_by_batch):
        ids = list(input_ids[b])
        am = list(attention_mask[b])
        lb = list(labels[b])
        for start, end, tok, repeat in sorted(reps, reverse=True):
            ids[start:end] = [tok] * repeat
            am[start:end] = [1] * repeat
            lb[start:end] = [-100] * repeat
        rows_ids.append(ids)
        rows_mask.append(am)
        rows_labels.append(lb)
    return np.array(rows_ids), np.array(rows_mask), np.array(rows_labels)


def prepare_vlm_batch(batch_dict, config):
    input_ids = batch_dict.get("input_ids")
    pixel_attention_mask = batch_dict.get("pixel_attention_mask")
    input_ids_np = np.asarray(input_ids)
    image_token_id, audio_token_id = _phi4mm_token_ids(config)
    batch_dict["image_token_positions"] = tuple(
        tuple(int(p) for p in np.where(row == image_token_id)[0].tolist())
        for row in input_ids_np
    )
    audio_spans = []
    for row in input_ids_np:
        spans, idx, row_list = [], 0, row.tolist()
        while idx < len(row_list):
            if int(row_list[idx]) != audio_token_id:
                idx += 1
                continue
            start = idx
            while idx < len(row_list) and int(row_list[idx]) == audio_token_id:
                idx += 1
            spans.append((start, idx))
        audio_spans.append(tuple(spans))
    batch_dict["audio_token_spans"] = tuple(audio_spans)
    pam_np = np.asarray(pixel_attention_mask)
    pixel_valid_lengths = tuple(int(r.astype(np.int32).sum()) for r in pam_np)

    image_token_id, audio_token_id = _phi4mm_token_ids(config)
    replacements, image_idx = [], 0
    for b, row in enumerate(input_ids_np):
        reps = []
        for pos in batch_dict["image_token_positions"][b]:
            reps.append((pos, pos + 1, image_token_id, pixel_valid_lengths[image_idx]))
            image_idx += 1
        for start, end in audio_spans[b]:
            reps.append((start, end, audio_token_id, end - start))
        replacements.append(tuple(reps))
    ids, am, lb = _expand_token_runs(
        input_ids_np, np.asarray(batch_dict["attention_mask"]), replacements,
        np.asarray(batch_dict["labels"]),
    )
    batch_dict["input_ids"], batch_dict["attention_mask"], batch_dict["labels"] = ids, am, lb
    return batch_dict


class VisionTower(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.patch = nn.Linear(3 * 4 * 4, 32)
        self.proj = nn.Sequential(nn.Linear(32, d), nn.GELU(), nn.Linear(d, d))

    def __call__(self, pixels):  # (B, 3, 8, 8)
        B = pixels.shape[0]
        x = pixels.reshape(B, 3, 2, 4, 2, 4).transpose(0, 2, 4, 1, 3, 5)
        x = x.reshape(B, PATCHES, 48)
        return self.proj(nn.gelu(self.patch(x)))


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyPhiMM(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.hidden_size
        self.cfg = cfg
        self.vision = VisionTower(d)
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.pos = nn.Embedding(32, d)
        self.blocks = [Block(d), Block(d)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.vocab_size)

    def __call__(self, input_ids, pixels):
        B, L = input_ids.shape
        x = self.embed(input_ids)
        feats = self.vision(pixels)  # (B, P, d)
        is_img = input_ids == self.cfg.image_token_index
        idx = mx.clip(mx.cumsum(is_img.astype(mx.int32), axis=1) - 1, 0, PATCHES - 1)
        gathered = mx.take_along_axis(feats, idx[..., None], axis=1)
        x = mx.where(is_img[..., None], gathered, x)
        x = x + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for blk in self.blocks:
            x = blk(x, mask)
        return self.head(self.norm(x))


CAPTIONS = {c: [10 + 3 * c, 11 + 3 * c, 12 + 3 * c] for c in range(N_CLASSES)}
PROMPT = [30, 31]


def make_batch(rng, n, cfg):
    classes = rng.integers(0, N_CLASSES, size=n)
    pixels = rng.normal(0, 0.3, size=(n, 3, 8, 8)).astype(np.float32)
    for i, c in enumerate(classes):
        qy, qx = divmod(int(c), 2)
        pixels[i, :, qy * 4:(qy + 1) * 4, qx * 4:(qx + 1) * 4] += 1.5
    ids, labels = [], []
    for c in classes:
        row = [cfg.bos_token_id, cfg.image_token_index] + PROMPT + CAPTIONS[int(c)] + [cfg.eos_token_id]
        lab = [-100] * 4 + CAPTIONS[int(c)] + [cfg.eos_token_id]
        ids.append(row)
        labels.append(lab)
    return {
        "input_ids": np.array(ids),
        "attention_mask": np.ones((n, len(ids[0])), dtype=np.int32),
        "labels": np.array(labels),
        "pixel_values": pixels,
        "pixel_attention_mask": np.ones((n, PATCHES), dtype=np.int32),
    }, classes


def loss_fn(model, ids, pixels, labels):
    logits = model(ids[:, :-1], pixels)
    targets = labels[:, 1:]
    valid = targets != -100
    ce = nn.losses.cross_entropy(logits, mx.where(valid, targets, 0), reduction="none")
    return (ce * valid).sum() / valid.sum()


def caption_accuracy(model, batch):
    ids = mx.array(batch["input_ids"])
    logits = model(ids[:, :-1], mx.array(batch["pixel_values"]))
    labels = batch["labels"][:, 1:]
    pred = np.array(mx.argmax(logits, axis=-1))
    valid = labels != -100
    return float(((pred == labels) & valid).sum() / valid.sum())


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    cfg = ModelConfig()
    model = TinyPhiMM(cfg)
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    eval_batch, _ = make_batch(np.random.default_rng(123), 128, cfg)
    eval_batch = prepare_vlm_batch(eval_batch, CHECKPOINT_CONFIG)

    print(f"training {cfg.model_type}: vocab={cfg.vocab_size} patches/image={PATCHES}")
    t0 = time.time()
    for step in range(1, 201):
        batch, _ = make_batch(rng, 16, cfg)
        batch = prepare_vlm_batch(batch, CHECKPOINT_CONFIG)
        loss, grads = step_fn(
            model, mx.array(batch["input_ids"]), mx.array(batch["pixel_values"]),
            mx.array(batch["labels"]),
        )
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 20 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}  ({time.time() - t0:.1f}s)")
    acc = caption_accuracy(model, eval_batch)
    print(f"eval caption token accuracy: {acc:.3f}  (chance ~{1 / N_CLASSES:.2f} on first token)")


if __name__ == "__main__":
    main()
