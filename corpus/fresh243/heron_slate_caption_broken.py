# Tiny LLaVA-style captioner: CLIP-ish vision tower + MLP projector + small causal LM.
# Single-image prompts, batch size 1 (as in the LLaVA trainer path), synthetic images.
import time
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


@dataclass
class VisionConfig:
    image_size: int = 16
    patch_size: int = 4
    num_channels: int = 3
    hidden_size: int = 32
    num_attention_heads: int = 4
    num_hidden_layers: int = 3


@dataclass
class TextConfig:
    vocab_size: int = 32
    hidden_size: int = 48
    num_attention_heads: int = 4
    num_hidden_layers: int = 2


@dataclass
class ModelConfig:
    vision_config: VisionConfig = field(default_factory=VisionConfig)
    text_config: TextConfig = field(default_factory=TextConfig)
    image_token_index: int = 3
    vision_feature_layer: int = -2
    vision_feature_select_strategy: str = "default"


class EncoderLayer(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(dims)
        self.self_attn = nn.MultiHeadAttention(dims, heads, bias=True)
        self.layer_norm2 = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, 4 * dims)
        self.fc2 = nn.Linear(4 * dims, dims)

    def __call__(self, x, mask=None):
        y = self.layer_norm1(x)
        x = x + self.self_attn(y, y, y, mask)
        y = self.layer_norm2(x)
        return x + self.fc2(nn.gelu(self.fc1(y)))


class VisionModel(nn.Module):
    def __init__(self, config: VisionConfig):
        super().__init__()
        self.patch_embedding = nn.Conv2d(
            config.num_channels, config.hidden_size,
            kernel_size=config.patch_size, stride=config.patch_size, bias=False,
        )
        n = (config.image_size // config.patch_size) ** 2
        self.class_embedding = mx.random.normal((config.hidden_size,)) * 0.02
        self.position_embedding = nn.Embedding(n + 1, config.hidden_size)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size)
        self.layers = [
            EncoderLayer(config.hidden_size, config.num_attention_heads)
            for _ in range(config.num_hidden_layers)
        ]

    def __call__(self, x, output_hidden_states=False):
        b = x.shape[0]
        x = self.patch_embedding(x)
        x = x.reshape(b, -1, x.shape[-1])
        cls = mx.broadcast_to(self.class_embedding, (b, 1, x.shape[-1]))
        x = mx.concatenate([cls, x], axis=1)
        x = x + self.position_embedding.weight[None]
        x = self.pre_layrnorm(x)
        states = [x]
        for layer in self.layers:
            x = layer(x)
            states.append(x)
        return x, states


class DecoderLayer(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.input_layernorm = nn.RMSNorm(dims)
        self.self_attn = nn.MultiHeadAttention(dims, heads)
        self.post_attention_layernorm = nn.RMSNorm(dims)
        self.gate_proj = nn.Linear(dims, 3 * dims, bias=False)
        self.down_proj = nn.Linear(3 * dims, dims, bias=False)

    def __call__(self, x, mask):
        y = self.input_layernorm(x)
        x = x + self.self_attn(y, y, y, mask)
        y = self.post_attention_layernorm(x)
        return x + self.down_proj(nn.silu(self.gate_proj(y)))


class TextModel(nn.Module):
    def __init__(self, config: TextConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = [
            DecoderLayer(config.hidden_size, config.num_attention_heads)
            for _ in range(config.num_hidden_layers)
        ]
        self.norm = nn.RMSNorm(config.hidden_size)


class LanguageModel(nn.Module):
    def __init__(self, config: TextConfig):
        super().__init__()
        self.model = TextModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)

    def __call__(self, input_ids, mask=None, cache=None, inputs_embeds=None):
        h = inputs_embeds if inputs_embeds is not None else self.model.embed_tokens(input_ids)
        L = h.shape[1]
        causal = nn.MultiHeadAttention.create_additive_causal_mask(L)
        pos = mx.arange(L)[:, None] / mx.power(10000.0, mx.arange(0, h.shape[-1], 2) / h.shape[-1])[None]
        pe = mx.concatenate([mx.sin(pos), mx.cos(pos)], axis=-1)
        h = h + 0.1 * pe[None]
        for layer in self.model.layers:
            h = layer(h, causal)
        return self.lm_head(self.model.norm(h))


class LlavaMultiModalProjector(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.linear_1 = nn.Linear(config.vision_config.hidden_size, config.text_config.hidden_size, bias=True)
        self.gelu = nn.GELU()
        self.linear_2 = nn.Linear(config.text_config.hidden_size, config.text_config.hidden_size, bias=True)

    def __call__(self, x):
        return self.linear_2(self.gelu(self.linear_1(x)))


class Model(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.vision_tower = VisionModel(config.vision_config)
        self.language_model = LanguageModel(config.text_config)
        self.multi_modal_projector = LlavaMultiModalProjector(config)
        self.vision_feature_layer = config.vision_feature_layer
        self.vision_feature_select_strategy = config.vision_feature_select_strategy

    def get_input_embeddings(self, input_ids=None, pixel_values=None):
        if pixel_values is None:
            return self.language_model.model.embed_tokens(input_ids)
        inputs_embeds = self.language_model.model.embed_tokens(input_ids)
        *_, hidden_states = self.vision_tower(
            pixel_values.transpose(0, 2, 3, 1), output_hidden_states=True
        )
        selected_image_feature = hidden_states[self.vision_feature_layer]
        if self.vision_feature_select_strategy == "default":
            selected_image_feature = selected_image_feature[:, 1:]
        image_features = self.multi_modal_projector(selected_image_feature)
        final_inputs_embeds = self._merge_input_ids_with_image_features(
            image_features, inputs_embeds, input_ids
        )
        return final_inputs_embeds

    def _merge_input_ids_with_image_features(
        self, image_features, inputs_embeds, input_ids
    ):
        image_token_index = self.config.image_token_index

        # Positions of <image> tokens in input_ids, assuming batch size is 1
        image_positions = np.where(input_ids == image_token_index)[1].tolist()
        num_images, _, vision_hidden_size = image_features.shape

        reshaped_image_hidden_states = image_features.reshape(-1, vision_hidden_size)

        # cast to the dtype of the input_embeds to support quantized models
        reshaped_image_hidden_states = reshaped_image_hidden_states.astype(
            inputs_embeds.dtype
        )

        # Pad image_positions to match the length of reshaped_image_hidden_states
        num_positions_needed = len(image_positions)

        if reshaped_image_hidden_states.shape[0] > num_positions_needed:
            raise ValueError(
                "Llava model supports only one image per input. Please check your input_ids and pixel_values."
            )

        inputs_embeds[:, image_positions, :] = reshaped_image_hidden_states
        return inputs_embeds

    def __call__(self, input_ids, pixel_values, mask=None, cache=None, **kwargs):
        input_embddings = self.get_input_embeddings(input_ids, pixel_values)
        return self.language_model(input_ids, mask=mask, cache=cache, inputs_embeds=input_embddings)


# ---------------- synthetic caption data ----------------
BOS, EOS, PAD, IMG = 0, 1, 2, 3
W_WHAT, W_WHERE, W_COLON = 4, 5, 6
COLORS = [10, 11, 12]          # red / green / blue
QUADS = [20, 21, 22, 23]       # top-left / top-right / bottom-left / bottom-right
PROMPT = [BOS, IMG, W_WHAT, W_WHERE, W_COLON]


def make_example(rng):
    ch = int(rng.integers(3))
    q = int(rng.integers(4))
    img = rng.normal(0.0, 0.25, size=(3, 16, 16)).astype(np.float32)
    r, c = divmod(q, 2)
    img[ch, r * 8:(r + 1) * 8, c * 8:(c + 1) * 8] += 1.5
    answer = [COLORS[ch], QUADS[q], EOS]
    return img, PROMPT + answer, len(answer)


def loss_fn(model, pixel_values, input_ids, n_answer):
    logits = model(input_ids, pixel_values, mask=mx.ones_like(input_ids))
    pred = logits[:, -(n_answer + 1):-1, :].astype(mx.float32)
    targets = input_ids[:, -n_answer:]
    return nn.losses.cross_entropy(pred, targets).mean()


def evaluate(model, rng, n=120):
    hits = 0
    for _ in range(n):
        img, ids, k = make_example(rng)
        logits = model(mx.array([ids]), mx.array(img[None]))
        pred = mx.argmax(logits[0, -(k + 1):-1], axis=-1).tolist()
        hits += int(pred == ids[-k:])
    return hits / n


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = Model(ModelConfig())
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable params: {n_params}")
    optimizer = optim.AdamW(learning_rate=5e-4, weight_decay=0.0)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    steps, window, t0 = 400, [], time.time()
    print(f"before training: caption exact-match {evaluate(model, np.random.default_rng(99)):.3f} (chance 0.083)")
    for step in range(1, steps + 1):
        img, ids, k = make_example(rng)
        loss, grads = loss_and_grad(model, mx.array(img[None]), mx.array([ids]), k)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        window.append(loss.item())
        if step % 50 == 0:
            print(f"Iter {step}: train loss {np.mean(window):.4f}  ({time.time() - t0:.1f}s)")
            window = []
    acc = evaluate(model, np.random.default_rng(99))
    print(f"after training: caption exact-match {acc:.3f} (chance 0.083)")


if __name__ == "__main__":
    main()
