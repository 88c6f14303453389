# Tiny LFM2-VL style vision-language model, LoRA SFT on synthetic "kiln tile" swatches.
# Each sample: a 4x4 RGB glaze swatch -> caption token naming its glaze (one of 6).
from dataclasses import dataclass
from typing import Optional
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(3)
VOCAB, D, N_PATCH, IMG_TOK = 16, 32, 4, 1


@dataclass
class InputEmbeddingsFeatures:
    inputs_embeds: mx.array
    attention_mask_4d: Optional[mx.array] = None


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=4, scale=2.0):
        super().__init__()
        out_d, in_d = base.weight.shape
        self.linear = base
        self.lora_a = mx.random.normal((in_d, r)) * (1 / math.sqrt(in_d))
        self.lora_b = mx.zeros((r, out_d))
        self.scale = scale

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class VisionTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Linear(12, D)

    def __call__(self, pixel_values, spatial_shapes=None):
        B = pixel_values.shape[0]
        p = pixel_values.reshape(B, N_PATCH, 12)
        return nn.gelu(self.patch(p))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(D)
        self.attn = nn.MultiHeadAttention(D, 4)
        self.mlp = nn.Sequential(nn.Linear(D, 2 * D), nn.SiLU(), nn.Linear(2 * D, D))

    def __call__(self, x, mask):
        h = self.norm(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(x)


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, D)
        self.layers = [Block(), Block()]
        self.norm = nn.RMSNorm(D)


class LanguageModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.model = Inner()
        self.lm_head = nn.Linear(D, VOCAB)

    def __call__(self, input_ids, mask=None, cache=None, inputs_embeds=None):
        h = inputs_embeds if inputs_embeds is not None else self.model.embed_tokens(input_ids)
        L = h.shape[1]
        m = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for layer in self.model.layers:
            h = layer(h, m)
        return self.lm_head(self.model.norm(h))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.vision_tower = VisionTower()
        self.projector = nn.Linear(D, D)
        self.language_model = LanguageModel()

    def get_input_embeddings(self, input_ids=None, pixel_values=None, **kwargs):
        spatial_shapes = kwargs.get("spatial_shapes", None)
        pixel_attention_mask = kwargs.get("pixel_attention_mask", None)
        inputs_embeds = self.language_model.model.embed_tokens(input_ids)
        if pixel_values is None:
            return InputEmbeddingsFeatures(inputs_embeds=inputs_embeds)
        feats = self.vision_tower(pixel_values, spatial_shapes=spatial_shapes)
        if pixel_attention_mask is not None:
            m = pixel_attention_mask[..., None]
            feats = (feats * m).sum(axis=1) / m.sum(axis=1)
        else:
            feats = feats.mean(axis=1)
        img = self.projector(feats)[:, None, :]
        # the image placeholder token (id IMG_TOK) at position 0 is replaced by the image feature
        is_img = (input_ids == IMG_TOK)[..., None]
        inputs_embeds = mx.where(is_img, img, inputs_embeds)
        return InputEmbeddingsFeatures(inputs_embeds=inputs_embeds)

    def __call__(self, input_ids, pixel_values=None, mask=None, cache=None, **kwargs):
        spatial_shapes = kwargs.get("spatial_shapes", None)
        pixel_attention_mask = kwargs.get("pixel_attention_mask", None)
        input_embeddings_features = self.get_input_embeddings(
            input_ids, pixel_values, spatial_shapes, pixel_attention_mask
        )

        logits = self.language_model(
            input_ids, mask=None, cache=cache, inputs_embeds=input_embeddings_features
        )
        return logits


# ---- synthetic glaze swatches: 6 glazes, each a base RGB colour + speckle
GLAZE_RGB = mx.array([[0.9, 0.9, 0.85], [0.2, 0.3, 0.7], [0.6, 0.2, 0.1],
                      [0.3, 0.6, 0.4], [0.1, 0.1, 0.1], [0.8, 0.6, 0.2]])


def make_batch(n):
    g = mx.random.randint(0, 6, (n,))
    px = GLAZE_RGB[g][:, None, None, :] + 0.12 * mx.random.normal((n, 4, 4, 3))
    # prompt: <img> "glaze" "is" -> answer token (10 + g)
    ids = mx.concatenate([mx.full((n, 1), IMG_TOK), mx.full((n, 1), 4), mx.full((n, 1), 5),
                          (10 + g)[:, None]], axis=1).astype(mx.int32)
    pmask = mx.ones((n, N_PATCH))
    return ids, px, pmask, g


model = Model()
model.freeze()
for blk in model.language_model.model.layers:
    blk.attn.query_proj = LoRALinear(blk.attn.query_proj)
    blk.attn.value_proj = LoRALinear(blk.attn.value_proj)
model.projector.unfreeze()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"trainable params: {n_train}")

opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)


def loss_fn(model, ids, px, pmask):
    logits = model(ids[:, :-1], px, pixel_attention_mask=pmask)
    return nn.losses.cross_entropy(logits[:, -1, :], ids[:, -1]).mean()


step_fn = nn.value_and_grad(model, loss_fn)
val_ids, val_px, val_pm, val_g = make_batch(256)
t0 = time.time()
for it in range(1, 401):
    ids, px, pm, _ = make_batch(32)
    loss, grads = step_fn(model, ids, px, pm)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 50 == 0:
        model.eval()
        vl = model(val_ids[:, :-1], val_px, pixel_attention_mask=val_pm)[:, -1, :]
        acc = (vl.argmax(-1) == val_ids[:, -1]).astype(mx.float32).mean().item()
        model.train()
        print(f"Iter {it}: Train loss {loss.item():.3f}, Val acc {acc:.3f}, "
              f"It/sec {it / (time.time() - t0):.1f}")
print("done")
