# Tiny "vision-language" caption trainer: image patches arrive as media tokens
# (ids 48..55) inside the input sequence, but the output head is pruned to the
# 48 text ids only (split input/output vocabulary).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TEXT_VOCAB = 48          # size of the output head
MEDIA_BASE = 48          # media token ids 48..55 exist only on the input side
IN_VOCAB = 56
N_MEDIA = 4
CAP_LEN = 12
DIM = 64

mx.random.seed(7)


def make_batch(n):
    media = mx.random.randint(0, 8, (n, N_MEDIA))
    code = (media * mx.array([1, 3, 5, 7])).sum(axis=1, keepdims=True)
    k = mx.arange(CAP_LEN)[None, :]
    caption = (code * (k + 1) + 2 * k) % TEXT_VOCAB
    seq = mx.concatenate([media + MEDIA_BASE, caption], axis=1)
    return seq[:, :-1], seq[:, 1:]


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(IN_VOCAB, DIM)
        self.pos = nn.Embedding(N_MEDIA + CAP_LEN, DIM)
        self.attn = nn.MultiHeadAttention(DIM, 4)
        self.norm1 = nn.LayerNorm(DIM)
        self.norm2 = nn.LayerNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))
        self.head = nn.Linear(DIM, TEXT_VOCAB)   # pruned output head

    def __call__(self, x):
        T = x.shape[1]
        h = self.embed(x) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        z = self.norm1(h)
        h = h + self.attn(z, z, z, mask=mask)
        h = h + self.mlp(self.norm2(h))
        return self.head(h)


def loss_fn(model, inputs, labels):
    logits = model(inputs)
    loss_mask = mx.ones(labels.shape)
    ce = nn.losses.cross_entropy(logits, labels)
    return (ce * loss_mask).sum() / mx.maximum(loss_mask.sum(), 1)


def caption_accuracy(model, inputs, labels):
    logits = model(inputs)
    pred = mx.argmax(logits[:, N_MEDIA - 1:], axis=-1)
    return (pred == labels[:, N_MEDIA - 1:]).astype(mx.float32).mean()


model = TinyVLM()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)
val_x, val_y = make_batch(256)

t0 = time.time()
print("iter | train_loss | val_caption_acc")
for it in range(1, 201):
    x, y = make_batch(64)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 20 == 0:
        acc = caption_accuracy(model, val_x, val_y).item()
        print(f"{it:4d} | {loss.item():10.4f} | {100 * acc:6.2f}%")
print(f"done in {time.time() - t0:.1f}s")
