# Lantern-slide archive: train a tiny two-tower CLIP model that matches
# glass-slide scans (8x8 greyscale, 2x2 patches) with their catalogue captions.
import time
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.core import linalg as LA
from mlx.nn.losses import cross_entropy

VOCAB = ["<pad>", "<cls>", "portrait", "landscape", "harbour", "church",
         "bright", "dim", "left", "right", "top", "bottom", "border", "plain"]
SUBJ, TONE, SIDE, EDGE = [2, 3, 4, 5], [6, 7], [8, 9, 10, 11], [12, 13]


def clip_loss(logits_per_text: mx.array, logits_per_image: mx.array) -> mx.array:
    [N, _] = logits_per_text.shape
    [M, _] = logits_per_image.shape
    caption_loss = cross_entropy(logits_per_text, mx.arange(N), reduction="mean")
    image_loss = cross_entropy(logits_per_image, mx.arange(M), reduction="mean")
    return (caption_loss + image_loss) / 2.0


@dataclass
class TowerOutput:
    pooler_output: mx.array
    last_hidden_state: mx.array


@dataclass
class CLIPModelOutput:
    loss: Optional[mx.array]
    text_embeds: Optional[mx.array]
    image_embeds: Optional[mx.array]


class TextModel(nn.Module):
    def __init__(self, vocab, dim, length):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, dim)
        self.position_embedding = mx.random.normal((length, dim)) * 0.02
        self.encoder = nn.TransformerEncoder(1, dim, 4, dim * 2)
        self.final_layer_norm = nn.LayerNorm(dim)

    def __call__(self, ids):
        x = self.token_embedding(ids) + self.position_embedding
        x = self.final_layer_norm(self.encoder(x, None))
        return TowerOutput(pooler_output=x[:, 0, :], last_hidden_state=x)


class VisionModel(nn.Module):
    def __init__(self, patch_dim, n_patches, dim):
        super().__init__()
        self.patch_embedding = nn.Linear(patch_dim, dim)
        self.class_embedding = mx.random.normal((dim,)) * 0.02
        self.position_embedding = mx.random.normal((n_patches + 1, dim)) * 0.02
        self.pre_layernorm = nn.LayerNorm(dim)
        self.encoder = nn.TransformerEncoder(1, dim, 4, dim * 2)
        self.post_layernorm = nn.LayerNorm(dim)

    def __call__(self, patches):
        x = self.patch_embedding(patches)
        cls = mx.broadcast_to(self.class_embedding, (x.shape[0], 1, x.shape[-1]))
        x = mx.concatenate([cls, x], axis=1) + self.position_embedding
        x = self.encoder(self.pre_layernorm(x), None)
        return TowerOutput(pooler_output=self.post_layernorm(x[:, 0, :]), last_hidden_state=x)


class CLIPModel(nn.Module):
    def __init__(self, text_dim=32, vision_dim=32, projection_dim=32):
        super().__init__()
        self.text_model = TextModel(len(VOCAB), text_dim, 5)
        self.vision_model = VisionModel(4, 16, vision_dim)
        self.visual_projection = nn.Linear(vision_dim, projection_dim, bias=False)
        self.text_projection = nn.Linear(text_dim, projection_dim, bias=False)
        self.logit_scale = mx.array([])

    def __call__(self, input_ids: mx.array, pixel_values: mx.array, return_loss=False) -> Any:
        text_embeds = self.text_projection(self.text_model(input_ids).pooler_output)
        text_embeds = text_embeds / LA.norm(text_embeds, axis=-1, keepdims=True)
        image_embeds = self.visual_projection(self.vision_model(pixel_values).pooler_output)
        image_embeds = image_embeds / LA.norm(image_embeds, axis=-1, keepdims=True)
        loss = None
        logit_scale = mx.exp(self.logit_scale)
        logits_per_text = (text_embeds @ image_embeds.T) * logit_scale
        logits_per_image = logits_per_text.T
        if return_loss:
            loss = clip_loss(logits_per_text, logits_per_image)
        return CLIPModelOutput(loss=loss, text_embeds=text_embeds, image_embeds=image_embeds)


def make_slides(rng, n):
    s = rng.integers(0, 4, n); t = rng.integers(0, 2, n)
    p = rng.integers(0, 4, n); e = rng.integers(0, 2, n)
    ids = np.stack([np.ones(n, int), np.array(SUBJ)[s], np.array(TONE)[t],
                    np.array(SIDE)[p], np.array(EDGE)[e]], 1)
    img = rng.normal(0, 0.25, (n, 8, 8))
    yy, xx = np.mgrid[0:8, 0:8]
    motifs = [(yy % 2 == 0), (xx % 2 == 0), (yy + xx) % 3 == 0, (np.abs(yy - xx) < 2)]
    regions = [xx < 4, xx >= 4, yy < 4, yy >= 4]
    for i in range(n):
        level = 1.0 if t[i] == 0 else 0.4
        img[i] += level * (motifs[s[i]] & regions[p[i]])
        if e[i] == 0:
            img[i, [0, -1], :] += 0.8; img[i, :, [0, -1]] += 0.8
    patches = img.reshape(n, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(n, 16, 4)
    return mx.array(ids), mx.array(patches.astype(np.float32))


def retrieval_acc(model, ids, pix):
    out = model(ids, pix)
    sim = out.image_embeds @ out.text_embeds.T
    return (mx.argmax(sim, axis=1) == mx.arange(ids.shape[0])).mean().item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    tr_ids, tr_pix = make_slides(rng, 2048)
    va_ids, va_pix = make_slides(rng, 64)
    model = CLIPModel()
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)

    def loss_fn(m, ids, pix):
        return m(ids, pix, return_loss=True).loss

    step = nn.value_and_grad(model, loss_fn)
    bs, t0 = 64, time.time()
    print(f"slides: {tr_ids.shape[0]} train, {va_ids.shape[0]} held-out; batch {bs}")
    print(f"chance retrieval @1 on held-out: {1 / va_ids.shape[0]:.3f}")
    for epoch in range(1, 6):
        perm = mx.array(rng.permutation(tr_ids.shape[0]))
        total, count = 0.0, 0
        for i in range(0, tr_ids.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = step(model, tr_ids[idx], tr_pix[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item(); count += 1
            if count % 8 == 0:
                print(f"epoch {epoch} step {count:3d}  loss {loss.item():.4f}")
        acc = retrieval_acc(model, va_ids, va_pix)
        print(f"epoch {epoch}  mean loss {total / count:.4f}  held-out image->caption @1 {acc:.3f}"
              f"  temperature {1 / mx.exp(model.logit_scale).item():.3f}  {time.time() - t0:.1f}s")
    print("done")


if __name__ == "__main__":
    main()
