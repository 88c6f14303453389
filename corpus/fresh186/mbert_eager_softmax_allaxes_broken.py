# Tiny ModernBERT-style encoder trained with masked-token prediction on a
# "mirror copy" language: second half of each row repeats the first half.
# Uses the eager attention path (explicit softmax) so attention maps can be inspected.
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 18          # 0 = pad, 1 = [MASK], 2..17 = symbols
PAD, MASK = 0, 1
HALF = 6
SEQ = 2 * HALF
DIM, HEADS, LAYERS = 48, 4, 2
BATCH, STEPS = 48, 120

mx.random.seed(3)


class EagerAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.Wqkv = nn.Linear(dim, 3 * dim, bias=False)
        self.Wo = nn.Linear(dim, dim, bias=False)

    def __call__(self, h, attention_mask):
        B, L, _ = h.shape
        qkv = self.Wqkv(h).reshape(B, L, 3, self.heads, self.head_dim)
        q, k, v = [mx.squeeze(a, axis=2) for a in qkv.transpose(0, 3, 2, 1, 4).split(3, axis=2)]
        scale = self.head_dim ** -0.5
        attn_weights = (q @ k.transpose(0, 1, 3, 2)) * scale
        attn_weights = mx.softmax(attn_weights + attention_mask)
        out = (attn_weights @ v).transpose(0, 2, 1, 3).reshape(B, L, -1)
        return self.Wo(out)


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.attn_norm = nn.LayerNorm(dim, bias=False)
        self.attn = EagerAttention(dim, heads)
        self.mlp_norm = nn.LayerNorm(dim, bias=False)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, h, mask):
        h = h + self.attn(self.attn_norm(h), mask)
        return h + self.mlp(self.mlp_norm(h))


class TinyModernBert(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.layers = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.final_norm = nn.LayerNorm(DIM, bias=False)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, ids, pad_mask):
        h = self.tok(ids) + self.pos(mx.arange(ids.shape[1]))
        # additive mask: [B, 1, 1, L], -inf-ish on padded keys
        add_mask = mx.where(pad_mask[:, None, None, :], 0.0, -1e9)
        for layer in self.layers:
            h = layer(h, add_mask)
        return self.head(self.final_norm(h))


def make_batch(n):
    first = mx.random.randint(2, VOCAB, (n, HALF))
    ids = mx.concatenate([first, first], axis=1)
    # random-length padding at the tail of some rows is avoided; instead pad
    # a random prefix-length of zero (keeps the mirror intact) -> all keys valid
    lengths = mx.full((n,), SEQ)
    pad_mask = mx.arange(SEQ)[None, :] < lengths[:, None]
    # mask one position in the second half
    pos = mx.random.randint(HALF, SEQ, (n,))
    hit = mx.arange(SEQ)[None, :] == pos[:, None]
    inputs = mx.where(hit, MASK, ids)
    return inputs, pad_mask, ids, hit


def loss_fn(model, inputs, pad_mask, targets, hit):
    logits = model(inputs, pad_mask)
    ce = nn.losses.cross_entropy(logits, targets, reduction="none")
    w = hit.astype(mx.float32)
    loss = (ce * w).sum() / w.sum()
    pred = mx.argmax(logits, axis=-1)
    acc = ((pred == targets) * w).sum() / w.sum()
    return loss, acc


model = TinyModernBert()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

print(f"chance-level mlm loss = ln({VOCAB - 2}) = {math.log(VOCAB - 2):.3f}")
t0 = time.time()
for step in range(1, STEPS + 1):
    inputs, pad_mask, targets, hit = make_batch(BATCH)
    (loss, acc), grads = step_fn(model, inputs, pad_mask, targets, hit)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, acc)
    if step % 10 == 0 or step == 1:
        print(f"step {step:04d} | mlm_loss {loss.item():.4f} | masked_acc {100 * acc.item():5.1f}% | {time.time() - t0:5.1f}s")

inputs, pad_mask, targets, hit = make_batch(512)
vl, va = loss_fn(model, inputs, pad_mask, targets, hit)
print(f"held-out: mlm_loss {vl.item():.4f}, masked_acc {100 * va.item():.1f}%")
