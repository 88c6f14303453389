# LoRA-style SFT of a tiny OCR vision-language model on stencilled quarry-block codes.
# Q/A records with an image column are turned into chat messages, rendered with the
# chat template, tokenized, and the image placeholder is expanded to patch tokens.
import random
import string
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
random.seed(SEED)
np.random.seed(SEED)
mx.random.seed(SEED)

MODEL_TYPE = "glm_ocr"
IMG = 8            # 8x8 grey stencil photo
PATCH = 4          # 4x4 patches -> 4 image tokens
N_PATCHES = (IMG // PATCH) ** 2
DIM = 64
MAX_LEN = 64
BATCH = 32
STEPS = 160


# ---------------------------------------------------------------- tokenizer
class Tokenizer:
    def __init__(self, chars, special_tokens):
        self.special = sorted(special_tokens, key=len, reverse=True)
        self.itos = ["<pad>"] + list(special_tokens) + list(chars)
        self.stoi = {s: i for i, s in enumerate(self.itos)}
        self.pad_id = 0
        self.unk_id = self.stoi["<unk>"]

    def encode(self, text):
        ids, i = [], 0
        while i < len(text):
            for sp in self.special:
                if text.startswith(sp, i):
                    ids.append(self.stoi[sp])
                    i += len(sp)
                    break
            else:
                ids.append(self.stoi.get(text[i], self.unk_id))
                i += 1
        return ids

    def convert_tokens_to_ids(self, tok):
        return self.stoi[tok]

    def __len__(self):
        return len(self.itos)


SPECIALS = ["<unk>", "<|user|>", "<|assistant|>", "<|endoftext|>",
            "<|begin_of_image|>", "<|image|>", "<|end_of_image|>"]
CHARS = string.ascii_letters + string.digits + " :?<>|_-.,'"
tokenizer = Tokenizer(CHARS, SPECIALS)
IMAGE_TOKEN_ID = tokenizer.convert_tokens_to_ids("<|image|>")


def apply_chat_template(messages):
    text, prompt = "", ""
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            parts = []
            for c in content:
                if c["type"] == "image":
                    parts.append("<|begin_of_image|><|image|><|end_of_image|>")
                else:
                    parts.append(c["text"])
            content = "".join(parts)
        text += f"<|{m['role']}|>"
        if m["role"] == "assistant":
            prompt = text
            text += content + "<|endoftext|>"
        else:
            text += content
    return text, prompt


def process(messages):
    """Render + tokenize; every <|image|> id is expanded to N_PATCHES image tokens."""
    text, prompt = apply_chat_template(messages)
    def expand(ids):
        out = []
        for t in ids:
            out.extend([t] * N_PATCHES if t == IMAGE_TOKEN_ID else [t])
        return out
    return expand(tokenizer.encode(text)), len(expand(tokenizer.encode(prompt)))


# ---------------------------------------------------------------- dataset
def transform_dataset_to_messages(dataset, model_type):
    def to_message(example):
        q = example["question"]
        a = example["answer"]
        img = example["image"]
        vlm_message_model_families = ["gemma", "qwen", "smolvlm", "mllama", "mistral3", "llama"]
        if model_type and any(model_type.startswith(p) for p in vlm_message_model_families):
            user_content = []
            if img is not None:
                user_content.append({"type": "image", "image": img})
            user_content.append({"type": "text", "text": q})
            return {"messages": [{"role": "user", "content": user_content},
                                 {"role": "assistant", "content": [{"type": "text", "text": a}]}],
                    "image": img}
        return {
            "messages": [
                {
                    "role": "user",
                    "content": (
                        f"<image>{q}"
                        if img is not None and "<image>" not in str(q)
                        else q
                    ),
                },
                {"role": "assistant", "content": a},
            ],
            "image": img,
        }
    return [to_message(ex) for ex in dataset]


rng = np.random.default_rng(SEED)
ALNUM = string.ascii_uppercase + string.digits
CODES = sorted({"".join(rng.choice(list(ALNUM), 3)) for _ in range(40)})[:24]
TEMPLATES = {c: (rng.random((IMG, IMG)) > 0.5).astype(np.float32) for c in CODES}
QUESTIONS = ["Text Recognition:", "Read the stencil:", "Block code?"]


def make_split(n):
    rows = []
    for _ in range(n):
        code = CODES[rng.integers(len(CODES))]
        img = TEMPLATES[code] + 0.35 * rng.standard_normal((IMG, IMG)).astype(np.float32)
        rows.append({"question": QUESTIONS[rng.integers(3)], "answer": code, "image": img})
    return rows


def encode_split(rows):
    msgs = transform_dataset_to_messages(rows, MODEL_TYPE)
    ids, starts, imgs = [], [], []
    for r in msgs:
        t, p = process(r["messages"])
        ids.append(t[:MAX_LEN])
        starts.append(p)
        imgs.append(r["image"])
    L = max(len(t) for t in ids)
    arr = np.full((len(ids), L), tokenizer.pad_id, dtype=np.int32)
    lmask = np.zeros((len(ids), L - 1), dtype=np.float32)
    for i, (t, p) in enumerate(zip(ids, starts)):
        arr[i, : len(t)] = t
        lmask[i, p - 1 : len(t) - 1] = 1.0   # predict answer + end token
    pix = np.stack(imgs)
    patches = pix.reshape(-1, IMG // PATCH, PATCH, IMG // PATCH, PATCH).transpose(0, 1, 3, 2, 4)
    patches = patches.reshape(len(ids), N_PATCHES, PATCH * PATCH)
    return mx.array(arr), mx.array(lmask), mx.array(patches), np.mean([len(t) for t in ids])


train_rows, val_rows = make_split(1536), make_split(384)
tr_ids, tr_mask, tr_pix, tr_len = encode_split(train_rows)
va_ids, va_mask, va_pix, va_len = encode_split(val_rows)
print(f"vocab {len(tokenizer)} | codes {len(CODES)} | train {tr_ids.shape[0]} val {va_ids.shape[0]} "
      f"| mean tokens/example {tr_len:.1f}")


# ---------------------------------------------------------------- model
class TinyOCRVLM(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.vision_tower = nn.Sequential(nn.Linear(PATCH * PATCH, DIM), nn.GELU(), nn.Linear(DIM, DIM))
        self.embed_tokens = nn.Embedding(vocab, DIM)
        self.pos = nn.Embedding(MAX_LEN, DIM)
        self.layers = [nn.TransformerEncoderLayer(DIM, 4, 4 * DIM, norm_first=True) for _ in range(2)]
        self.norm = nn.LayerNorm(DIM)
        self.lm_head = nn.Linear(DIM, vocab, bias=False)

    def prepare_inputs_for_multimodal(self, input_ids, pixel_values):
        embeds = self.embed_tokens(input_ids)
        feats = self.vision_tower(pixel_values)                      # (B, P, D)
        is_img = input_ids == IMAGE_TOKEN_ID
        slot = mx.clip(mx.cumsum(is_img.astype(mx.int32), axis=1) - 1, 0, N_PATCHES - 1)
        b = mx.arange(input_ids.shape[0])[:, None]
        return mx.where(is_img[..., None], feats[b, slot], embeds)

    def __call__(self, input_ids, pixel_values):
        L = input_ids.shape[1]
        h = self.prepare_inputs_for_multimodal(input_ids, pixel_values) + self.pos(mx.arange(L))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        for layer in self.layers:
            h = layer(h, mask)
        return self.lm_head(self.norm(h))


def loss_fn(model, ids, lmask, pix):
    logits = model(ids[:, :-1], pix)
    ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
    return (ce * lmask).sum() / lmask.sum()


def evaluate(model, ids, lmask, pix):
    logits = model(ids[:, :-1], pix)
    ce = nn.losses.cross_entropy(logits, ids[:, 1:], reduction="none")
    loss = (ce * lmask).sum() / lmask.sum()
    hit = (mx.argmax(logits, axis=-1) == ids[:, 1:]) | (lmask == 0)
    exact = mx.all(hit, axis=1).astype(mx.float32).mean()
    return loss.item(), 100.0 * exact.item()


model = TinyOCRVLM(len(tokenizer))
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
running = 0.0
for step in range(1, STEPS + 1):
    idx = mx.array(np.random.randint(0, tr_ids.shape[0], BATCH))
    loss, grads = step_fn(model, tr_ids[idx], tr_mask[idx], tr_pix[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    running += loss.item()
    if step % 20 == 0:
        vl, em = evaluate(model, va_ids, va_mask, va_pix)
        print(f"Iter {step}: train loss {running / 20:.3f} | val loss {vl:.3f} | "
              f"val exact match {em:.1f}% | {time.time() - t0:.1f}s")
        running = 0.0

vl, em = evaluate(model, va_ids, va_mask, va_pix)
print(f"final: val loss {vl:.3f}  val exact match {em:.1f}%  (guessing one of {len(CODES)} codes: "
      f"{100.0 / len(CODES):.1f}%)")
