# Tiny omni-style caption model: audio frames are spliced into the token
# stream at placeholder positions, and the model learns to write the digits
# spoken in the clip. Full-sequence training.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
rng = np.random.default_rng(0)


class ToyTokenizer:
    def __init__(self):
        specials = ["<pad>", "<s>", "</s>", "<|image|>", "<|audio_start|>",
                    "<|endoftext11|>", "<|user|>", "<|assistant|>"]
        digits = [str(d) for d in range(10)]
        self.vocab = {t: i for i, t in enumerate(specials + digits)}
        self.pad_token_id = self.vocab["<pad>"]
        self.bos_token_id = self.vocab["<s>"]
        self.eos_token_id = self.vocab["</s>"]
        self.image_token_id = self.vocab["<|image|>"]

    def convert_tokens_to_ids(self, tok):
        return self.vocab.get(tok)

    def __len__(self):
        return len(self.vocab)


CONFIG = {"image_token_index": 3, "audio_placeholder": "<|endoftext11|>"}
tokenizer = ToyTokenizer()


def get_audio_soft_token_ids(tok, config):
    name = config.get("audio_placeholder")
    tid = tok.convert_tokens_to_ids(name) if name else None
    return [tid] if tid is not None else []


def get_ignore_token_ids(tok, config):
    ids = []
    for key in ("image_token_id", "video_token_id", "audio_token_id"):
        v = getattr(tok, key, None)
        if v is not None and v not in ids:
            ids.append(int(v))
    for key in ("image_token_index", "video_token_index", "audio_token_index"):
        v = config.get(key)
        if v is not None and v not in ids:
            ids.append(int(v))
    return ids


FRAMES, FEAT, NDIG = 24, 8, 4
codebook = rng.normal(size=(10, FEAT)).astype(np.float32)
AUDIO_ID = get_audio_soft_token_ids(tokenizer, CONFIG)[0]
V = tokenizer.vocab


def make_rows(n):
    digits = rng.integers(0, 10, size=(n, NDIG))
    feats = np.zeros((n, FRAMES, FEAT), np.float32)
    per = FRAMES // NDIG
    for j in range(NDIG):
        feats[:, j * per:(j + 1) * per] = codebook[digits[:, j]][:, None, :]
    feats += 1.6 * rng.normal(size=feats.shape).astype(np.float32)
    lead = [V["<s>"], V["<|user|>"], V["<|audio_start|>"]] + [AUDIO_ID] * FRAMES + [V["<|assistant|>"]]
    ids = np.array([lead + [V[str(d)] for d in row] + [V["</s>"]] for row in digits], np.int32)
    return ids, feats, digits


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class OmniCaptioner(nn.Module):
    def __init__(self, vocab, d=64, layers=2, heads=4, max_len=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(max_len, d)
        self.audio_proj = nn.Sequential(nn.Linear(FEAT, d), nn.GELU(), nn.Linear(d, d))
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def __call__(self, ids, feats):
        T = ids.shape[1]
        x = self.embed(ids)
        is_audio = (ids == AUDIO_ID)[..., None]
        audio = self.audio_proj(feats)
        start = 3
        pad_l = mx.zeros((ids.shape[0], start, x.shape[-1]))
        pad_r = mx.zeros((ids.shape[0], T - start - FRAMES, x.shape[-1]))
        audio_full = mx.concatenate([pad_l, audio, pad_r], axis=1)
        x = mx.where(is_audio, audio_full, x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln(x))


IGNORE = mx.array(get_ignore_token_ids(tokenizer, CONFIG))


def loss_fn(model, ids, feats):
    logits = model(ids[:, :-1], feats)
    targets = ids[:, 1:]
    keep = (targets != tokenizer.pad_token_id) & ~mx.any(targets[..., None] == IGNORE, axis=-1)
    keep = keep.astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    ntoks = mx.maximum(keep.sum(), 1)
    acc = ((mx.argmax(logits, -1) == targets) * keep).sum() / ntoks
    return (ce * keep).sum() / ntoks, acc


train_ids, train_feats, _ = make_rows(2048)
val_ids, val_feats, val_digits = make_rows(128)
model = OmniCaptioner(len(tokenizer))
opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, lambda m, i, f: loss_fn(m, i, f)[0])


def caption_accuracy():
    ids = mx.array(val_ids)
    logits = model(ids[:, :-1], mx.array(val_feats))
    start = 3 + FRAMES  # position of <|assistant|>; predicts first digit
    pred = np.array(mx.argmax(logits[:, start:start + NDIG], -1)) - V["0"]
    return float((pred == val_digits).mean())


print(f"ignore ids: {get_ignore_token_ids(tokenizer, CONFIG)}")
BS, STEPS = 32, 75
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(train_ids), BS)
    ids, feats = mx.array(train_ids[idx]), mx.array(train_feats[idx])
    loss, grads = step_fn(model, ids, feats)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        vl, va = loss_fn(model, mx.array(val_ids), mx.array(val_feats))
        print(f"step {step:4d} | train loss {loss.item():.4f} | val loss {vl.item():.4f} "
              f"| token acc {va.item():.3f} | caption digit acc {caption_accuracy():.3f} "
              f"| {time.time() - t0:.1f}s")
print(f"final caption digit acc {caption_accuracy():.3f} (chance 0.100)")
