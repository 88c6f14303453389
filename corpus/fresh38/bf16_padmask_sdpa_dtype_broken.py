# Tiny transformer classifier trained in bfloat16 on padded variable-length sequences.
# Task: does token 3 occur more often than token 5 in the (unpadded part of the) sequence?
import math, random, sys, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)
VOCAB, PAD, MAXLEN, DIM, HEADS = 12, 0, 24, 48, 4


def make_batch(n):
    xs, ys = [], []
    for _ in range(n):
        L = random.randint(6, MAXLEN)
        toks = [random.randint(1, VOCAB - 1) for _ in range(L)]
        ys.append(1 if toks.count(3) > toks.count(5) else 0)
        xs.append(toks + [PAD] * (MAXLEN - L))
    return mx.array(xs), mx.array(ys)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.hd = dim // heads
        self.scale = 1.0 / math.sqrt(self.hd)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def __call__(self, x, pad_mask):
        B, L, D = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, self.hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        # additive key-padding mask, (B, 1, 1, L)
        mask = mx.where(pad_mask[:, None, None, :], 0.0, -1e9)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.n1 = nn.RMSNorm(dim)
        self.attn = Attention(dim, heads)
        self.n2 = nn.RMSNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, m):
        x = x + self.attn(self.n1(x), m)
        return x + self.ff(self.n2(x))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block(DIM, HEADS) for _ in range(2)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, 2)

    def __call__(self, tok):
        m = tok != PAD
        h = self.emb(tok)
        for b in self.blocks:
            h = b(h, m)
        h = self.norm(h)
        mf = m[..., None].astype(h.dtype)
        pooled = (h * mf).sum(axis=1) / mf.sum(axis=1)
        return self.head(pooled)


model = Classifier()
model.set_dtype(mx.bfloat16)  # train in bf16 to halve memory
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)


def loss_fn(model, x, y):
    logits = model(x).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
xv, yv = make_batch(256)
STEPS, BAR = 150, 30
t0 = time.time()
ema = None
for step in range(1, STEPS + 1):
    x, y = make_batch(32)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
    if step % 15 == 0 or step == 1:
        acc = (mx.argmax(model(xv), axis=-1) == yv).astype(mx.float32).mean().item()
        done = int(BAR * step / STEPS)
        sys.stdout.write(f"train |{'#' * done}{'.' * (BAR - done)}| {step}/{STEPS} "
                         f"[{time.time() - t0:5.1f}s, loss={ema:.4f}, val_acc={acc:.3f}]\n")
        sys.stdout.flush()
print("done")
