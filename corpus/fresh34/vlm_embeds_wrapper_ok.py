# Tiny "vision-language" LoRA-free SFT run: a patch encoder produces image
# tokens that are spliced into the text embeddings at <image> positions, and a
# small causal decoder predicts the caption ("... colour is <c>").
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = ["<pad>", "<image>", "the", "colour", "is", "red", "green", "blue", "grey"]
TOK = {w: i for i, w in enumerate(VOCAB)}
N_IMG, D = 4, 64
rng = np.random.default_rng(2)
mx.random.seed(2)


def sample(n):
    cls = rng.integers(0, 4, n)
    base = np.array([[1, .2, .2], [.2, 1, .2], [.2, .2, 1], [.6, .6, .6]], np.float32)
    imgs = base[cls][:, None, :] + rng.normal(0, 0.35, (n, 16, 3)).astype(np.float32)
    ids = np.array([[TOK["<image>"]] * N_IMG + [TOK["the"], TOK["colour"], TOK["is"], TOK["red"] + c]
                    for c in cls], np.int32)
    return mx.array(imgs.reshape(n, N_IMG, 12)), mx.array(ids)


@dataclass
class InputEmbeddingsFeatures:
    inputs_embeds: mx.array
    image_features: Optional[mx.array] = None


class Decoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(len(VOCAB), D)
        self.attn = nn.MultiHeadAttention(D, 4)
        self.norm1 = nn.LayerNorm(D)
        self.norm2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(), nn.Linear(4 * D, D))
        self.lm_head = nn.Linear(D, len(VOCAB))

    def __call__(self, input_ids, inputs_embeds=None):
        h = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        L = h.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.norm1(h)
        h = h + self.attn(x, x, x, mask=mask)
        h = h + self.mlp(self.norm2(h))
        return self.lm_head(h)


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision = nn.Sequential(nn.Linear(12, D), nn.GELU(), nn.Linear(D, D))
        self.language_model = Decoder()

    def get_input_embeddings(self, input_ids, pixel_values, **kwargs):
        text = self.language_model.embed_tokens(input_ids)
        feats = self.vision(pixel_values)
        is_img = (input_ids == TOK["<image>"])[..., None]
        img_full = mx.concatenate([feats, mx.zeros((feats.shape[0], input_ids.shape[1] - N_IMG, D))], 1)
        return InputEmbeddingsFeatures(inputs_embeds=mx.where(is_img, img_full, text), image_features=feats)

    def __call__(self, input_ids, pixel_values):
        feats = self.get_input_embeddings(input_ids, pixel_values)
        return self.language_model(input_ids, inputs_embeds=feats.inputs_embeds)

    def generate_last(self, input_ids, pixel_values):
        # generation path (worked fine before any training)
        emb = self.get_input_embeddings(input_ids, pixel_values).inputs_embeds
        return mx.argmax(self.language_model(input_ids, inputs_embeds=emb)[:, -1], -1)


def loss_fn(model, pix, ids):
    logits = model(ids[:, :-1], pix)
    return nn.losses.cross_entropy(logits[:, -1], ids[:, -1], reduction="mean")


model = TinyVLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
lg = nn.value_and_grad(model, loss_fn)

pix_val, ids_val = sample(256)
pred = model.generate_last(ids_val[:, :-1], pix_val)
print(f"sanity generate before training: acc={(pred == ids_val[:, -1]).astype(mx.float32).mean().item():.3f}")

total, t0 = 300, time.time()
for step in range(1, total + 1):
    pix, ids = sample(32)
    loss, grads = lg(model, pix, ids)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        acc = (model.generate_last(ids_val[:, :-1], pix_val) == ids_val[:, -1]).astype(mx.float32).mean().item()
        bar = "#" * (step * 30 // total)
        sys.stdout.write(f"[{bar:<30}] {step}/{total} loss={loss.item():.4f} val_acc={acc:.3f} {time.time()-t0:.1f}s\n")
        sys.stdout.flush()
print("done")
