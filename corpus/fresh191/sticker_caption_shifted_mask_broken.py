# Tiny "VLM" captioner: a sticker image (flattened 6x6 colour grid) is projected
# into 2 prefix tokens, then a 1-block causal transformer writes the caption.
# Captions have different lengths, so batches are right-padded and carry an
# attention_mask (1 = real token, 0 = pad).
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
COLOURS = ["red", "green", "blue", "gold"]
SHAPES = ["star", "heart", "moon"]
SIZES = ["tiny", "big"]
VOCAB = ["<pad>", "<bos>", "<eos>", "a", "sticker", "of", "with", "glitter"] + COLOURS + SHAPES + SIZES
TOK = {w: i for i, w in enumerate(VOCAB)}
PAD = 0
N_PREFIX = 2

def make_sample():
    c, s, z = rng.integers(4), rng.integers(3), rng.integers(2)
    glitter = rng.random() < 0.4
    img = rng.normal(0, 0.3, size=(36,)).astype(np.float32)
    img[c * 9:(c + 1) * 9] += 1.5           # colour lives in one block of pixels
    img[s::3] += 0.8                          # shape is a stripe pattern
    img *= 1.6 if z else 0.7                  # size is the overall contrast
    if glitter:
        img[::7] += 2.0
    words = ["a", SIZES[z], COLOURS[c], SHAPES[s]] + (["with", "glitter"] if glitter else [])
    ids = [TOK["<bos>"]] + [TOK[w] for w in words] + [TOK["<eos>"]]
    return img, ids

def batchify(samples):
    L = max(len(ids) for _, ids in samples)
    ids = np.full((len(samples), L), PAD, dtype=np.int32)
    am = np.zeros((len(samples), L), dtype=np.int32)
    for i, (_, t) in enumerate(samples):
        ids[i, :len(t)] = t
        am[i, :len(t)] = 1
    px = np.stack([im for im, _ in samples])
    return {"input_ids": mx.array(ids), "pixel_values": mx.array(px),
            "attention_mask": mx.array(am), "labels": mx.array(ids)}

class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        B, T, D = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda t: t.reshape(B, T, self.heads, -1).transpose(0, 2, 1, 3)
        a = mx.fast.scaled_dot_product_attention(sh(q), sh(k), sh(v),
                                                 scale=(D // self.heads) ** -0.5, mask=mask)
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, T, D))
        return x + self.ff(self.ln2(x))

class StickerCaptioner(nn.Module):
    def __init__(self, d=48, heads=4):
        super().__init__()
        self.vision = nn.Sequential(nn.Linear(36, 64), nn.GELU(), nn.Linear(64, N_PREFIX * d))
        self.embed = nn.Embedding(len(VOCAB), d)
        self.pos = nn.Embedding(32, d)
        self.blocks = [Block(d, heads), Block(d, heads)]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, len(VOCAB))
        self.d = d

    def __call__(self, input_ids, pixel_values, mask=None):
        B, S = input_ids.shape
        img = self.vision(pixel_values).reshape(B, N_PREFIX, self.d)
        h = mx.concatenate([img, self.embed(input_ids)], axis=1)
        T = h.shape[1]
        h = h + self.pos(mx.arange(T))
        causal = mx.tril(mx.ones((T, T), dtype=mx.bool_))
        if mask is not None:
            # padding mask for the text part; image prefix is always visible
            keep = mx.concatenate([mx.ones((B, N_PREFIX), dtype=mx.bool_), mask.astype(mx.bool_)], axis=1)
            causal = causal[None, None] & keep[:, None, None, :]
        for blk in self.blocks:
            h = blk(h, causal)
        return self.head(self.norm(h))[:, N_PREFIX:]

def loss_fn(model, batch):
    input_ids = batch["input_ids"]
    attention_mask = batch["attention_mask"]
    inputs = input_ids[:, :-1]
    targets = batch["labels"][:, 1:]
    fwd_mask = attention_mask
    logits = model(inputs, batch["pixel_values"], mask=fwd_mask)
    w = attention_mask[:, 1:].astype(mx.float32)
    ce = nn.losses.cross_entropy(logits.astype(mx.float32), targets, reduction="none")
    return (ce * w).sum() / w.sum()

def caption_accuracy(model, batch):
    ids = batch["input_ids"]
    am = batch["attention_mask"]
    logits = model(ids[:, :-1], batch["pixel_values"], mask=am[:, :-1])
    pred = mx.argmax(logits, axis=-1)
    w = am[:, 1:].astype(mx.float32)
    return ((pred == ids[:, 1:]).astype(mx.float32) * w).sum() / w.sum()

mx.random.seed(7)
model = StickerCaptioner()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
val = batchify([make_sample() for _ in range(256)])
step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
print("sticker captioner | train 300 steps, batch 32")
for step in range(1, 301):
    batch = batchify([make_sample() for _ in range(32)])
    loss, grads = step_fn(model, batch)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0:
        acc = caption_accuracy(model, val)
        print(f"  it {step:4d}  ce={loss.item():.4f}  tok_acc={100 * acc.item():5.1f}%  ({time.time() - t0:.1f}s)")
print(f"done in {time.time() - t0:.1f}s")
