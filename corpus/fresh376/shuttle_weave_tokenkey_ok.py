"""LoRA-free SFT of a tiny Qwen2-VL-style captioner on loom swatch photos.

Each 8x8 RGB swatch shows a woven pattern (weave x yarn colour); the model
answers the chat prompt "describe the weave" with two words.
Trainer/Dataset follow mlx_vlm.trainer (Dataset.__getitem__ + Trainer.loss_fn).
"""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

WEAVES = ["plain", "twill", "stripe", "check"]
COLOURS = {"madder": (0.85, 0.2, 0.2), "woad": (0.2, 0.3, 0.9),
           "weld": (0.9, 0.85, 0.2), "walnut": (0.45, 0.3, 0.15)}

# ---------------------------------------------------------------- processor
SPECIALS = ["<pad>", "<|im_start|>", "<|im_end|>", "<|image_pad|>", "user", "assistant"]
WORDS = ["describe", "the", "weave"] + WEAVES + list(COLOURS)
VOCAB = SPECIALS + WORDS
TOK = {w: i for i, w in enumerate(VOCAB)}

CONFIG = {
    "model_type": "qwen2_vl",
    "image_token_id": TOK["<|image_pad|>"],
    "vocab_size": len(VOCAB),
    "hidden_size": 48,
    "num_hidden_layers": 2,
    "vision_config": {"patch_size": 4, "in_chans": 3, "embed_dim": 32},
}
ASSISTANT_ID = TOK["assistant"]


class Tokenizer:
    def apply_chat_template(self, conversation, tokenize=False, add_generation_prompt=False):
        parts = []
        for msg in conversation:
            parts.append(f"<|im_start|> {msg['role']} {msg['content']} <|im_end|>")
        if add_generation_prompt:
            parts.append("<|im_start|> assistant")
        return " ".join(parts)

    def encode(self, text):
        return [TOK[w] for w in text.split()]


class Processor:
    def __init__(self):
        self.tokenizer = Tokenizer()


def get_prompt(model_type, processor, conversation):
    if model_type == "paligemma":
        return conversation
    if "chat_template" in processor.__dict__.keys():
        prompt = processor.apply_chat_template(conversation, tokenize=False, add_generation_prompt=False)
    elif "tokenizer" in processor.__dict__.keys():
        prompt = processor.tokenizer.apply_chat_template(
            conversation, tokenize=False, add_generation_prompt=False
        )
    return prompt


def prepare_inputs(processor, images, audio, prompts, image_token_index, resize_shape=None):
    p = CONFIG["vision_config"]["patch_size"]
    rows = []
    pix = []
    grids = []
    for prompt, img in zip(prompts, images):
        h, w = img.shape[0] // p, img.shape[1] // p
        ids = []
        for t in processor.tokenizer.encode(prompt):
            ids.extend([image_token_index] * (h * w) if t == image_token_index else [t])
        rows.append(ids)
        patches = img.reshape(h, p, w, p, 3).transpose(0, 2, 1, 3, 4).reshape(h * w, -1)
        pix.append(patches)
        grids.append([1, h, w])
    L = max(len(r) for r in rows)
    input_ids = np.zeros((len(rows), L), np.int32)
    mask = np.zeros((len(rows), L), np.int32)
    for i, r in enumerate(rows):
        input_ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return {
        "input_ids": mx.array(input_ids),
        "pixel_values": mx.array(np.concatenate(pix, 0)),
        "attention_mask": mx.array(mask),
        "image_grid_thw": mx.array(np.array(grids, np.int32)),
    }


# ---------------------------------------------------------------- data
def swatch(weave, colour, rng):
    base = np.array(COLOURS[colour])
    img = np.tile(base * 0.35, (8, 8, 1))
    yy, xx = np.mgrid[0:8, 0:8]
    if weave == "plain":
        on = (yy + xx) % 2 == 0
    elif weave == "twill":
        on = (xx - yy) % 4 < 2
    elif weave == "stripe":
        on = (yy // 2) % 2 == 0
    else:
        on = ((yy // 2) + (xx // 2)) % 2 == 0
    img[on] = base
    img = img * rng.uniform(0.8, 1.2) + rng.normal(0, 0.06, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)


def make_split(n, rng):
    rows = []
    for _ in range(n):
        w = WEAVES[rng.integers(4)]
        c = list(COLOURS)[rng.integers(4)]
        rows.append({
            "images": [swatch(w, c, rng)],
            "messages": [
                {"role": "user", "content": "<|image_pad|> describe the weave"},
                {"role": "assistant", "content": f"{w} {c}"},
            ],
        })
    return rows


class Dataset:
    def __init__(self, hf_dataset, config, processor, image_processor=None, take=None,
                 split=None, image_resize_shape=None):
        self.dataset = hf_dataset[split] if split is not None else hf_dataset
        if take is not None:
            self.dataset = self.dataset[:take]
        self.processor = processor
        self.config = config
        self.image_processor = image_processor
        self.image_resize_shape = image_resize_shape

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, idx):
        item = self.dataset[idx]
        images = item.get("images", item.get("image", None))
        conversations = item.get("messages", item.get("conversations"))
        if images in (None, "", []):
            images = []
        prompts = []
        if isinstance(conversations, list) and isinstance(conversations[0], list):
            for conversation in conversations:
                prompts.append(get_prompt(self.config["model_type"], self.processor, conversation))
        else:
            prompts.append(get_prompt(self.config["model_type"], self.processor, conversations))

        image_token_index = self.config.get("image_token_index")
        if image_token_index is None:
            image_token_index = self.config.get("image_token_id")
        if image_token_index is None:
            raise KeyError(
                "Missing image token config: expected 'image_token_index' or 'image_token_id' "
                f"in config. Available keys: {list(self.config.keys())}"
            )

        inputs = prepare_inputs(
            processor=self.processor,
            images=images,
            audio=None,
            prompts=prompts,
            image_token_index=image_token_index,
            resize_shape=self.image_resize_shape,
        )
        input_ids = inputs["input_ids"]
        pixel_values = inputs["pixel_values"]
        mask = inputs["attention_mask"]
        kwargs = {k: v for k, v in inputs.items()
                  if k not in ["input_ids", "pixel_values", "attention_mask"]}
        if mask is None:
            mask = mx.ones_like(input_ids)
        return {"pixel_values": pixel_values, "input_ids": input_ids, "attention_mask": mask, **kwargs}


def collate(items):
    L = max(it["input_ids"].shape[1] for it in items)
    ids = mx.concatenate([mx.pad(it["input_ids"], [(0, 0), (0, L - it["input_ids"].shape[1])]) for it in items])
    am = mx.concatenate([mx.pad(it["attention_mask"], [(0, 0), (0, L - it["attention_mask"].shape[1])]) for it in items])
    pv = mx.concatenate([it["pixel_values"] for it in items])
    grid = mx.concatenate([it["image_grid_thw"] for it in items])
    return {"input_ids": ids, "attention_mask": am, "pixel_values": pv, "image_grid_thw": grid}


# ---------------------------------------------------------------- model
class VisionTower(nn.Module):
    def __init__(self, cfg, out_dim):
        super().__init__()
        p, c, d = cfg["patch_size"], cfg["in_chans"], cfg["embed_dim"]
        self.patch_embed = nn.Linear(p * p * c, d)
        self.pos = nn.Embedding(4, d)
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.merger = nn.Linear(d, out_dim)

    def __call__(self, pixel_values, grid_thw):
        n = grid_thw[0, 1].item() * grid_thw[0, 2].item()
        x = self.patch_embed(pixel_values)
        x = x + self.pos(mx.arange(x.shape[0]) % n)
        x = x + self.mlp(self.norm(x))
        return self.merger(x)


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln1 = nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.ln2 = nn.RMSNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyQwen2VL(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        d = config["hidden_size"]
        self.embed_tokens = nn.Embedding(config["vocab_size"], d)
        self.pos = nn.Embedding(32, d)
        self.visual = VisionTower(config["vision_config"], d)
        self.layers = [Block(d) for _ in range(config["num_hidden_layers"])]
        self.norm = nn.RMSNorm(d)
        self.lm_head = nn.Linear(d, config["vocab_size"], bias=False)

    def __call__(self, input_ids, pixel_values, attention_mask, image_grid_thw=None):
        emb = self.embed_tokens(input_ids)
        feats = self.visual(pixel_values, image_grid_thw)
        is_img = input_ids == self.config["image_token_id"]
        idx = mx.maximum(mx.cumsum(is_img.reshape(-1).astype(mx.int32)) - 1, 0).reshape(is_img.shape)
        emb = mx.where(is_img[..., None], feats[idx], emb)
        T = input_ids.shape[1]
        x = emb + self.pos(mx.arange(T))
        causal = nn.MultiHeadAttention.create_additive_causal_mask(T)
        pad = mx.where(attention_mask[:, None, None, :] > 0, 0.0, -1e9)
        for layer in self.layers:
            x = layer(x, causal + pad)
        return self.lm_head(self.norm(x))


# ---------------------------------------------------------------- trainer
def loss_fn(model, batch, train_on_completions=True, assistant_id=ASSISTANT_ID):
    input_ids = batch["input_ids"]
    attention_mask = batch["attention_mask"]
    B, T = input_ids.shape
    if train_on_completions:
        pos = np.array([int(np.argmax(r == assistant_id)) for r in np.array(input_ids)])
        weight = (mx.arange(T)[None, :] > mx.array(pos)[:, None]).astype(mx.float32)[:, 1:]
    else:
        weight = mx.ones((B, T - 1))
    weight = weight * attention_mask[:, 1:]
    logits = model(input_ids[:, :-1], batch["pixel_values"], attention_mask[:, :-1],
                   image_grid_thw=batch["image_grid_thw"]).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, input_ids[:, 1:]) * weight
    return ce.sum() / weight.sum()


def answer_accuracy(model, items):
    hits = 0
    for item in items:
        b = collate([item])
        ids = np.array(b["input_ids"][0])
        a = int(np.argmax(ids == ASSISTANT_ID))
        logits = model(b["input_ids"], b["pixel_values"], b["attention_mask"], image_grid_thw=b["image_grid_thw"])
        pred = np.array(mx.argmax(logits[0], -1))
        hits += int(pred[a] == ids[a + 1] and pred[a + 1] == ids[a + 2])
    return hits / len(items)


def main():
    rng = np.random.default_rng(SEED)
    data = {"train": make_split(600, rng), "validation": make_split(80, rng)}
    processor = Processor()
    train_ds = Dataset(data, CONFIG, processor, split="train")
    val_ds = Dataset(data, CONFIG, processor, split="validation")

    model = TinyQwen2VL(CONFIG)
    mx.eval(model.parameters())
    nparams = sum(v.size for _, v in __import__("mlx.utils", fromlist=["x"]).tree_flatten(model.trainable_parameters()))
    print(f"Trainable parameters: {nparams}")
    train_items = [train_ds[i] for i in range(len(train_ds))]
    val_items = [val_ds[i] for i in range(len(val_ds))]
    print(f"Loading datasets: {len(train_items)} train, {len(val_items)} validation")
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    step = nn.value_and_grad(model, loss_fn)

    iters, bs = 300, 16
    print("Starting training..., iters:", iters)
    tic = time.time()
    acc_loss = 0.0
    for it in range(1, iters + 1):
        idx = rng.choice(len(train_items), bs, replace=False)
        batch = collate([train_items[int(i)] for i in idx])
        loss, grads = step(model, batch)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc_loss += loss.item()
        if it % 20 == 0:
            print(f"Iter {it}: Train loss {acc_loss / 20:.3f}, Learning Rate {opt.learning_rate.item():.3e}, "
                  f"It/sec {20 / (time.time() - tic):.2f}")
            acc_loss, tic = 0.0, time.time()
        if it % 100 == 0:
            vb = collate(val_items)
            print(f"Iter {it}: Val loss {loss_fn(model, vb).item():.3f}")
    acc = answer_accuracy(model, val_items)
    print(json.dumps({"val_answer_exact": round(acc, 3), "chance": 1 / 16}))


if __name__ == "__main__":
    main()
