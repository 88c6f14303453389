"""Tiny vision-language SFT on synthetic lichen specimen photos.

Each record is a chat turn: the user shows one herbarium photo of a lichen
thallus and asks for the growth form; the assistant answers with a short
caption. A small processor turns the batch of texts and images into
input_ids / attention_mask / pixel_values, and a tiny VLM (patch encoder +
token embedding + one transformer block) is trained on the caption tokens.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

FORMS = ["crustose", "foliose", "fruticose", "squamulose"]
COLOURS = ["grey", "orange", "green", "yellow"]
WORDS = ["<pad>", "<bos>", "<eos>", "<image>", "user:", "assistant:", "what",
         "lichen", "is", "this", "a"] + FORMS + COLOURS + ["thallus"]
VOCAB = {w: i for i, w in enumerate(WORDS)}
PAD_ID, IMAGE_ID = VOCAB["<pad>"], VOCAB["<image>"]
IMG = 16
PATCH = 4
N_PATCH = (IMG // PATCH) ** 2


def make_photo(form, colour):
    """3 x 16 x 16 float image whose texture depends on form and hue on colour."""
    yy, xx = np.mgrid[0:IMG, 0:IMG] / IMG
    if form == 0:
        tex = (np.sin(23 * xx) * np.sin(19 * yy) > 0.2).astype(np.float32)
    elif form == 1:
        tex = np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) * 9.0)
    elif form == 2:
        tex = (np.abs(np.sin(9 * xx + 2 * yy)) > 0.7).astype(np.float32)
    else:
        tex = ((xx * 4).astype(int) % 2 == (yy * 4).astype(int) % 2).astype(np.float32)
    hue = np.eye(4, 3, dtype=np.float32)[colour] + 0.25
    img = hue[:, None, None] * tex[None] + 0.15 * rng.standard_normal((3, IMG, IMG))
    return img.astype(np.float32)


def make_record():
    f, c = int(rng.integers(4)), int(rng.integers(4))
    return {
        "images": [make_photo(f, c)],
        "messages": [
            {"role": "user", "content": "<image> what lichen is this"},
            {"role": "assistant", "content": f"a {COLOURS[c]} {FORMS[f]} thallus"},
        ],
        "form": f,
        "colour": c,
    }


train_set = [make_record() for _ in range(1200)]
valid_set = [make_record() for _ in range(200)]


class SpecimenProcessor:
    """Minimal processor: tokenises chat text and patchifies each image."""

    def tokenize(self, text):
        return [VOCAB["<bos>"]] + [VOCAB[w] for w in text.split()] + [VOCAB["<eos>"]]

    @staticmethod
    def _to_numpy_image(img):
        return np.asarray(img, dtype=np.float32)

    def _process_one(self, image):
        C, H, W = image.shape
        p = image.reshape(C, H // PATCH, PATCH, W // PATCH, PATCH)
        p = p.transpose(1, 3, 0, 2, 4).reshape(-1, C * PATCH * PATCH)
        return p

    def __call__(self, text, images=None):
        if not isinstance(images, list):
            images = [images]
        imgs = [
            img if (isinstance(img, np.ndarray) and img.ndim == 3) else self._to_numpy_image(img)
            for img in images
        ]
        pixel_values = np.stack([self._process_one(v) for v in imgs])
        ids = [self.tokenize(t) for t in text]
        width = max(len(r) for r in ids)
        input_ids = np.full((len(ids), width), PAD_ID, dtype=np.int32)
        attention_mask = np.zeros((len(ids), width), dtype=np.int32)
        for i, r in enumerate(ids):
            input_ids[i, : len(r)] = r
            attention_mask[i, : len(r)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask,
                "pixel_values": pixel_values}


def apply_chat_template(messages):
    parts = []
    for m in messages:
        parts.append(("user: " if m["role"] == "user" else "assistant: ") + m["content"])
    return " ".join(parts)


def collate_vlm_batch(items, processor):
    all_texts, all_images = [], []
    for item in items:
        text = apply_chat_template(item["messages"])
        images = list(item["images"])
        all_texts.append(text)
        all_images.extend(images)
    inputs = processor(all_texts, images=all_images)
    ids = inputs["input_ids"]
    labels = np.full_like(ids, -100)
    asst = VOCAB["assistant:"]
    for i, row in enumerate(ids):
        start = int(np.where(row == asst)[0][0]) + 1
        valid = inputs["attention_mask"][i] == 1
        labels[i, start:] = np.where(valid[start:], row[start:], -100)
    return {k: mx.array(v) for k, v in inputs.items()} | {"labels": mx.array(labels)}


class TinyVLM(nn.Module):
    def __init__(self, dim=64):
        super().__init__()
        self.patch_proj = nn.Linear(3 * PATCH * PATCH, dim)
        self.img_pos = nn.Embedding(N_PATCH, dim)
        self.tok = nn.Embedding(len(WORDS), dim)
        self.pos = nn.Embedding(64, dim)
        self.block = nn.TransformerEncoderLayer(dim, 4, 2 * dim, norm_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, len(WORDS))

    def __call__(self, input_ids, pixel_values):
        img = self.patch_proj(pixel_values) + self.img_pos(mx.arange(N_PATCH))
        txt = self.tok(input_ids) + self.pos(mx.arange(input_ids.shape[1]))
        x = mx.concatenate([img, txt], axis=1)
        L = x.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        h = self.block(x, mask)
        return self.head(self.norm(h[:, N_PATCH:]))


def loss_fn(model, batch):
    logits = model(batch["input_ids"][:, :-1], batch["pixel_values"])
    targets = batch["labels"][:, 1:]
    valid = targets != -100
    ce = nn.losses.cross_entropy(logits, mx.where(valid, targets, 0), reduction="none")
    ntok = valid.sum()
    return (ce * valid).sum() / ntok, ntok


processor = SpecimenProcessor()
model = TinyVLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

BATCH = 16
ITERS = 300
print(f"train records: {len(train_set)}  valid records: {len(valid_set)}  vocab: {len(WORDS)}")


def evaluate():
    tot, n, hits = 0.0, 0, 0
    form_pos = 3  # index of the form word inside the caption labels
    for i in range(0, len(valid_set), 50):
        items = valid_set[i : i + 50]
        b = collate_vlm_batch(items, processor)
        l, k = loss_fn(model, b)
        tot += l.item() * k.item()
        n += k.item()
        logits = model(b["input_ids"][:, :-1], b["pixel_values"])
        pred = mx.argmax(logits, axis=-1)
        asst = VOCAB["assistant:"]
        for j, it in enumerate(items):
            row = np.array(b["input_ids"][j])
            s = int(np.where(row == asst)[0][0])
            hits += int(pred[j, s + form_pos - 1].item() == VOCAB[FORMS[it["form"]]])
    return tot / n, hits / len(valid_set)


tic = time.perf_counter()
order = rng.permutation(len(train_set))
ptr = 0
running = []
for it in range(1, ITERS + 1):
    if ptr + BATCH > len(order):
        order, ptr = rng.permutation(len(train_set)), 0
    items = [train_set[k] for k in order[ptr : ptr + BATCH]]
    ptr += BATCH
    batch = collate_vlm_batch(items, processor)
    (loss, ntok), grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running.append(loss.item())
    if it % 25 == 0 or it == 1:
        print(f"Iter {it}: Train loss {np.mean(running):.3f}, Tokens {int(ntok.item())}, "
              f"It/sec {it / (time.perf_counter() - tic):.1f}")
        running = []
    if it % 100 == 0:
        vl, acc = evaluate()
        print(f"Iter {it}: Val loss {vl:.3f}, Val form accuracy {acc:.3f}")

vl, acc = evaluate()
print(f"final val loss {vl:.3f}  form accuracy {acc:.3f}  (chance 0.250)")
