# Tiny ModernBERT-style encoder fine-tuned as a sentence classifier on padded batches.
# Task: a "ticket" is a bag of word ids; label = 1 if it mentions more REFUND words than THANKS words.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, PAD, DIM, HEADS, MAXLEN = 24, 0, 32, 4, 16
REFUND = [3, 4, 5]
THANKS = [6, 7, 8]


def make_batch(n, maxlen):
    lens = mx.random.randint(3, 13, (n,))
    toks = mx.random.randint(1, VOCAB, (n, maxlen))
    pos = mx.arange(maxlen)[None, :]
    valid = pos < lens[:, None]
    toks = mx.where(valid, toks, PAD)
    is_ref = mx.zeros(toks.shape, dtype=mx.bool_)
    is_thx = mx.zeros(toks.shape, dtype=mx.bool_)
    for t in REFUND:
        is_ref = is_ref | (toks == t)
    for t in THANKS:
        is_thx = is_thx | (toks == t)
    y = (is_ref.sum(1) > is_thx.sum(1)).astype(mx.int32)
    return toks, valid.astype(mx.float32), y


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.Wqkv = nn.Linear(DIM, 3 * DIM, bias=False)
        self.Wo = nn.Linear(DIM, DIM, bias=False)

    def __call__(self, x, attention_mask):
        B, L, _ = x.shape
        q, k, v = mx.split(self.Wqkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        scale = 1.0 / math.sqrt(DIM // HEADS)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=attention_mask)
        return self.Wo(o.transpose(0, 2, 1, 3).reshape(B, L, DIM))


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn_norm = nn.LayerNorm(DIM)
        self.attn = Attention()
        self.mlp_norm = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, x, mask):
        x = x + self.attn(self.attn_norm(x), mask)
        return x + self.mlp(self.mlp_norm(x))


class TinyModernBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_embeddings = nn.Embedding(VOCAB, DIM)
        self.layers = [Layer() for _ in range(2)]
        self.final_norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, 2)

    def _update_attention_mask(self, attention_mask):
        batch_size, seq_len = attention_mask.shape

        additive_mask = mx.where(attention_mask == 1, 0.0, -1e9)
        additive_mask = additive_mask[:, None, None, :]

        global_attention_mask = mx.broadcast_to(
            additive_mask, (batch_size, 1, seq_len, seq_len)
        )
        return global_attention_mask

    def __call__(self, toks, attention_mask):
        h = self.tok_embeddings(toks)
        mask = self._update_attention_mask(attention_mask)
        for layer in self.layers:
            h = layer(h, mask)
        h = self.final_norm(h)
        m = attention_mask[..., None]
        pooled = (h * m).sum(1) / m.sum(1)
        return self.head(pooled)


model = TinyModernBert()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def loss_fn(model, toks, am, y):
    return nn.losses.cross_entropy(model(toks, am), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
val_t, val_m, val_y = make_batch(512, MAXLEN)
# same validation tickets, but padded out to 48 slots (as a serving batch would be)
extra = 48 - MAXLEN
val_t48 = mx.concatenate([val_t, mx.zeros((512, extra), dtype=val_t.dtype)], axis=1)
val_m48 = mx.concatenate([val_m, mx.zeros((512, extra))], axis=1)

print("step | train_ce | val_acc@16 | val_acc@48 | pad_drift")
for step in range(1, 301):
    toks, am, y = make_batch(64, MAXLEN)
    loss, grads = step_fn(model, toks, am, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        l16 = model(val_t, val_m)
        l48 = model(val_t48, val_m48)
        acc16 = (l16.argmax(-1) == val_y).mean().item()
        acc48 = (l48.argmax(-1) == val_y).mean().item()
        drift = mx.abs(l16 - l48).max().item()
        print(f"{step:4d} | {loss.item():.4f} | {acc16:.3f} | {acc48:.3f} | {drift:.2e}")
print("done")
