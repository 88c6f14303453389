# tiny causal char-LM trained in float16 with a hand-built additive causal mask
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
VOCAB, SEQ, DIM, HEADS, BATCH = 12, 16, 64, 4, 32
DTYPE = mx.float16


def causal_mask(n, dtype=mx.float32):
    idx = mx.arange(n)
    mask = idx[:, None] < idx[None]
    mask = mask.astype(dtype) * -1e9
    return mask


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(DIM)
        self.ln2 = nn.LayerNorm(DIM)
        self.qkv = nn.Linear(DIM, 3 * DIM)
        self.out = nn.Linear(DIM, DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q, k, v = mx.split(self.qkv(self.ln1(x)), 3, axis=-1)
        sh = lambda t: t.reshape(B, L, HEADS, -1).transpose(0, 2, 1, 3)
        q, k, v = sh(q), sh(k), sh(v)
        s = (q @ k.transpose(0, 1, 3, 2)) * (DIM // HEADS) ** -0.5 + mask
        a = mx.softmax(s.astype(mx.float32), axis=-1).astype(x.dtype) @ v
        x = x + self.out(a.transpose(0, 2, 1, 3).reshape(B, L, DIM))
        return x + self.ff(self.ln2(x))


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.blocks = [Block(), Block()]
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        mask = causal_mask(L, h.dtype)
        for b in self.blocks:
            h = b(h, mask)
        return self.head(h)


def batch():
    # each row: a random start and a random stride, tokens = start + i*stride mod VOCAB
    start = mx.random.randint(0, VOCAB, (BATCH, 1))
    stride = mx.random.randint(1, 4, (BATCH, 1))
    seq = (start + stride * mx.arange(SEQ + 1)[None]) % VOCAB
    return seq[:, :-1], seq[:, 1:]


model = CharLM()
model.set_dtype(DTYPE)
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x).astype(mx.float32), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(1, 81):
    x, y = batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 10 == 0 or step == 1:
        print(f"step {step:4d} | loss {loss.item():.4f} | ppl {mx.exp(loss).item():8.3f} | {time.time()-t0:5.1f}s")
print("done")
