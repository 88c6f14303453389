"""Captioning a toy chart-symbol set with a tiny vision-language model.

Each "image" is a 3x8x8 chart symbol (a buoy colour and a shape, sometimes a
border). The model reads the image as one leading token and learns to write the
caption after a short user prompt. Batches are padded to a bucket of 32 tokens
and the loss is averaged over real tokens only.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

COLOURS = ["red", "green", "yellow", "white"]
SHAPES = ["can", "cone", "sphere", "pillar"]
WORDS = ["<pad>", "<bos>", "<eos>", "user", "assistant", ":", "describe", "the",
         "mark", "a", "with", "border"] + COLOURS + SHAPES
VOCAB = {w: i for i, w in enumerate(WORDS)}
RGB = np.array([[1.0, 0.1, 0.1], [0.1, 0.9, 0.2], [0.9, 0.9, 0.1], [0.9, 0.9, 0.9]])


def shape_mask(s):
    yy, xx = np.mgrid[0:8, 0:8]
    if s == 0:
        m = (abs(yy - 3.5) < 3) & (abs(xx - 3.5) < 2)
    elif s == 1:
        m = (yy >= 1) & (abs(xx - 3.5) <= (yy - 1) * 0.5 + 0.5)
    elif s == 2:
        m = (yy - 3.5) ** 2 + (xx - 3.5) ** 2 < 7
    else:
        m = abs(xx - 3.5) < 1
    return m.astype(np.float32)


def make_item(rng):
    c, s, b = rng.integers(4), rng.integers(4), rng.integers(2)
    img = RGB[c][:, None, None] * shape_mask(s)[None]
    if b:
        img[:, 0, :] = img[:, -1, :] = img[:, :, 0] = img[:, :, -1] = 0.6
    img = img + 0.15 * rng.standard_normal(img.shape)
    caption = f"a {COLOURS[c]} {SHAPES[s]}" + (" with border" if b else "")
    return {
        "images": img.astype(np.float32),
        "messages": [
            {"role": "user", "content": "describe the mark"},
            {"role": "assistant", "content": caption},
        ],
    }


class ToyProcessor:
    """Word-level stand-in for a Hugging Face processor."""

    def apply_chat_template(self, conversation, tokenize=False, add_generation_prompt=False):
        parts = ["<bos>"]
        for msg in conversation:
            parts += [msg["role"], ":"] + msg["content"].split()
        parts.append("<eos>")
        return " ".join(parts)

    def __call__(self, text, images):
        ids = [VOCAB[w] for w in text.split()]
        return {
            "input_ids": mx.array([ids], dtype=mx.int32),
            "attention_mask": mx.ones((1, len(ids)), dtype=mx.int32),
            "pixel_values": mx.array(images)[None],
        }


def get_prompt(model_type, processor, conversation):
    return processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)


def prepare_inputs(processor, images, audio, prompts, image_token_index, resize_shape=None):
    return processor(prompts[0], images[0])


class Dataset:
    def __init__(self, hf_dataset, config, processor, image_resize_shape=None):
        self.dataset = hf_dataset
        self.processor = processor
        self.config = config
        self.image_resize_shape = image_resize_shape

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        item = self.dataset[idx]
        images = item.get("images", item.get("image", None))
        if not isinstance(images, list):
            images = [images]
        conversations = item.get("messages", item.get("conversations"))
        prompts = [get_prompt(self.config["model_type"], self.processor, conversations)]

        image_token_index = self.config.get("image_token_index") or self.config.get("image_token_id")
        if image_token_index is None:
            raise ValueError("Config must contain either 'image_token_index' or 'image_token_id'")

        inputs = prepare_inputs(
            processor=self.processor,
            images=images if images else None,
            audio=None,
            prompts=prompts,
            image_token_index=image_token_index,
            resize_shape=self.image_resize_shape,
        )
        input_ids = inputs.get("input_ids")
        pixel_values = inputs.get("pixel_values")
        mask = inputs.get("attention_mask") or mx.ones_like(input_ids)
        kwargs = {k: v for k, v in inputs.items() if k not in ["input_ids", "pixel_values", "attention_mask"]}
        return {"pixel_values": pixel_values, "input_ids": input_ids, "attention_mask": mask, **kwargs}


def iterate_batches(dataset, batch_size, max_seq_length, train=False):
    indices = list(range(len(dataset)))
    if len(dataset) < batch_size:
        raise ValueError(f"Dataset must have at least {batch_size} examples")
    batch_indices = [indices[i: i + batch_size] for i in range(0, len(indices) - batch_size + 1, batch_size)]
    while True:
        order = np.random.permutation(len(batch_indices)) if train else range(len(batch_indices))
        for b in order:
            items = [dataset[idx] for idx in batch_indices[b]]
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
                if "attention_mask" in item:
                    m = np.array(item["attention_mask"]).reshape(-1)
                    attention_mask_batch[i, :L] = m[:L]
                else:
                    attention_mask_batch[i, :L] = 1
            pixel_values_batch = mx.stack([item["pixel_values"] for item in items])
            yield {
                "input_ids": mx.array(input_ids_batch),
                "attention_mask": mx.array(attention_mask_batch),
                "pixel_values": pixel_values_batch,
            }
        if not train:
            break


class Output:
    def __init__(self, logits):
        self.logits = logits


class TinyVLM(nn.Module):
    def __init__(self, vocab, dims=48, heads=4, layers=2, max_len=40):
        super().__init__()
        self.vision = nn.Sequential(nn.Linear(192, 96), nn.GELU(), nn.Linear(96, dims))
        self.embed = nn.Embedding(vocab, dims)
        self.pos = nn.Embedding(max_len, dims)
        self.blocks = [nn.TransformerEncoderLayer(dims, heads, 4 * dims, norm_first=True) for _ in range(layers)]
        self.norm = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)

    def __call__(self, input_ids, pixel_values, attention_mask):
        B, T = input_ids.shape
        img = self.vision(pixel_values.reshape(B, -1))[:, None, :]
        x = mx.concatenate([img, self.embed(input_ids)], axis=1)
        x = x + self.pos(mx.arange(T + 1))
        keep = mx.concatenate([mx.ones((B, 1), dtype=mx.bool_), attention_mask.astype(mx.bool_)], axis=1)
        causal = mx.tril(mx.ones((T + 1, T + 1), dtype=mx.bool_))
        allowed = causal[None, None] & keep[:, None, None, :]
        mask = mx.where(allowed, 0.0, -1e9).astype(x.dtype)
        for blk in self.blocks:
            x = blk(x, mask)
        return Output(self.head(self.norm(x))[:, 1:, :])


def vision_language_loss_fn(model, batch):
    pixel_values = batch["pixel_values"]
    input_ids = batch["input_ids"][:, :-1]
    attention_mask = batch["attention_mask"][:, :-1]
    lengths = mx.sum(attention_mask, axis=1)
    labels = batch["input_ids"][:, 1:]
    logits = model(input_ids, pixel_values, attention_mask).logits.astype(mx.float32)
    seq_len = input_ids.shape[1]
    lengths = mx.minimum(lengths, seq_len)
    length_mask = mx.arange(seq_len)[None, :] < lengths[:, None]
    ce = nn.losses.cross_entropy(logits, labels) * length_mask
    ntoks = length_mask.sum()
    return ce.sum() / ntoks


def caption_accuracy(model, samples):
    proc = ToyProcessor()
    right = 0
    for s in samples:
        prompt = proc.apply_chat_template(s["messages"][:1]).split()[:-1] + ["assistant", ":"]
        ids = [VOCAB[w] for w in prompt]
        pix = mx.array(s["images"])[None]
        for _ in range(8):
            x = mx.array([ids], dtype=mx.int32)
            logits = model(x, pix, mx.ones_like(x)).logits
            nxt = int(mx.argmax(logits[0, -1]).item())
            if nxt == VOCAB["<eos>"]:
                break
            ids.append(nxt)
        got = " ".join(WORDS[i] for i in ids[len(prompt):])
        right += got == s["messages"][1]["content"]
    return right / len(samples)


def main():
    rng = np.random.default_rng(SEED)
    train_items = [make_item(rng) for _ in range(640)]
    val_items = [make_item(rng) for _ in range(64)]
    config = {"model_type": "toy_vlm", "image_token_index": 255}
    processor = ToyProcessor()
    train_set = Dataset(train_items, config, processor)
    val_set = Dataset(val_items, config, processor)

    model = TinyVLM(len(WORDS))
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
    loss_and_grad = nn.value_and_grad(model, vision_language_loss_fn)

    iters, batch_size = 260, 16
    print(f"Training on {len(train_set)} captions, validating on {len(val_set)}")
    tic = time.perf_counter()
    window = []
    for it, batch in zip(range(1, iters + 1), iterate_batches(train_set, batch_size, 16, train=True)):
        loss, grads = loss_and_grad(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if it % 20 == 0:
            toc = time.perf_counter()
            print(f"Iter {it}: Train loss {np.mean(window):.3f}, It/sec {20 / (toc - tic):.2f}")
            window, tic = [], time.perf_counter()
        if it % 130 == 0:
            vl = [vision_language_loss_fn(model, b).item() for b in iterate_batches(val_set, batch_size, 16)]
            print(f"Iter {it}: Val loss {np.mean(vl):.3f}")
    acc = caption_accuracy(model, val_items)
    print(f"Exact caption match on validation: {acc * 100:.1f}%")


if __name__ == "__main__":
    main()
