"""LoRA-style fine-tune of a toy vision-language captioner.

Each image is split into 1-4 tiles; every tile becomes TOKENS_PER_TILE image
features, and the prompt carries one <image> placeholder token per feature.
The language model replaces placeholder embeddings with the projected image
features, then is trained to predict the caption tokens.  Sequences are
truncated to MAX_SEQ_LEN like any text fine-tune.
"""
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)

VOCAB = 48
IMAGE_TOKEN = 1
BOS = 2
TOKENS_PER_TILE = 6
PATCH_DIM = 12
DIM = 32
MAX_SEQ_LEN = 22


def make_example():
    # most photos are small; the odd large photo is split into 4 tiles
    n_tiles = random.choices([1, 2, 3, 4], weights=[45, 30, 20, 3])[0]
    label = random.randrange(4)
    tiles = mx.random.normal((n_tiles * TOKENS_PER_TILE, PATCH_DIM)) + label
    caption = [10 + label, 20 + label, 30 + label]
    ids = [BOS] + [IMAGE_TOKEN] * (n_tiles * TOKENS_PER_TILE) + caption
    return {"input_ids": ids, "pixel_values": tiles, "n_caption": len(caption)}


data = [make_example() for _ in range(300)]


def iterate_batches(dataset):
    order = list(range(len(dataset)))
    random.shuffle(order)
    for i in order:
        ex = dataset[i]
        if ex["input_ids"].count(IMAGE_TOKEN) + 2 > MAX_SEQ_LEN:
            # truncation would cut image placeholders but keep every tile's features
            continue
        ids = ex["input_ids"][:MAX_SEQ_LEN]
        yield mx.array(ids)[None], ex["pixel_values"]


class ToyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = nn.Linear(PATCH_DIM, DIM)
        self.projector = nn.Linear(DIM, DIM)
        self.embed = nn.Embedding(VOCAB, DIM)
        self.block = nn.TransformerEncoderLayer(DIM, 4, 64)
        self.head = nn.Linear(DIM, VOCAB)

    def merge(self, input_ids, feats):
        emb = self.embed(input_ids)
        positions = [i for i, t in enumerate(input_ids[0].tolist()) if t == IMAGE_TOKEN]
        if len(positions) != feats.shape[0]:
            raise ValueError(
                f"Image features and image tokens do not match: tokens: {len(positions)}, "
                f"features {feats.shape[0]}")
        idx = mx.array(positions)
        return emb.at[0, idx].add(feats - emb[0, idx])

    def __call__(self, input_ids, pixel_values):
        feats = self.projector(nn.gelu(self.vision(pixel_values)))
        h = self.merge(input_ids, feats)
        L = h.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        return self.head(self.block(h, mask))


def loss_fn(model, ids, pix):
    logits = model(ids, pix)[:, :-1]
    targets = ids[:, 1:]
    # train only on caption tokens (everything after the last image token)
    is_text = (targets != IMAGE_TOKEN).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    return (ce * is_text).sum() / mx.maximum(is_text.sum(), 1)


model = ToyVLM()
model.embed.freeze()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)

it = 0
for epoch in range(3):
    running = []
    for ids, pix in iterate_batches(data):
        loss, grads = vg(model, ids, pix)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        running.append(loss.item())
        it += 1
        if it % 20 == 0:
            print(f"Iter {it}: Train loss {sum(running) / len(running):.3f}")
            running = []
print("Training complete")
