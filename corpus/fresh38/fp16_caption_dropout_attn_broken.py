# Conditional regressor with a tiny caption encoder; caption dropout (as in CFG training)
# blanks the whole caption for ~15% of samples. Attention runs in float16 to save memory.
import json, math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(1)
mx.random.seed(1)
VOCAB, CAP, DIM, HEADS = 20, 8, 32, 4
W_TOK = mx.random.normal((VOCAB,)) * 0.8


def make_batch(n, drop_p=0.15):
    x = mx.random.normal((n, 4))
    lens = mx.random.randint(2, CAP + 1, (n,))
    pos = mx.arange(CAP)[None, :]
    keep = pos < lens[:, None]
    tok = mx.random.randint(1, VOCAB, (n, CAP)) * keep
    cap_effect = (W_TOK[tok] * keep).sum(axis=1) / keep.sum(axis=1)
    y = mx.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + cap_effect + 0.05 * mx.random.normal((n,))
    # caption dropout: the model must also work unconditionally
    dropped = mx.random.uniform(shape=(n,)) < drop_p
    key_mask = keep & ~dropped[:, None]
    return x, tok, key_mask, y


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.hd = heads, dim // heads
        self.wq = nn.Linear(dim, dim, bias=False)
        self.wk = nn.Linear(dim, dim, bias=False)
        self.wv = nn.Linear(dim, dim, bias=False)
        self.wo = nn.Linear(dim, dim, bias=False)

    def __call__(self, x, key_mask):
        B, L, D = x.shape
        half = lambda t: t.astype(mx.float16).reshape(B, L, self.heads, self.hd).transpose(0, 2, 1, 3)
        q, k, v = half(self.wq(x)), half(self.wk(x)), half(self.wv(x))  # half-precision attention
        scores = (q @ k.transpose(0, 1, 3, 2)) / math.sqrt(self.hd)
        scores = mx.where(key_mask[:, None, None, :], scores, mx.array(-1e9, dtype=scores.dtype))
        attn = mx.softmax(scores, axis=-1)
        context = attn @ v
        y = context.transpose(0, 2, 1, 3).reshape(B, L, D)
        return self.wo(y.astype(mx.float32))


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.attn = SelfAttention(DIM, HEADS)
        self.norm = nn.LayerNorm(DIM)
        self.xproj = nn.Linear(4, DIM)
        self.head = nn.Sequential(nn.Linear(2 * DIM, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x, tok, key_mask):
        h = self.emb(tok)
        h = self.norm(h + self.attn(h, key_mask))
        m = key_mask[..., None].astype(h.dtype)
        pooled = (h * m).sum(axis=1) / mx.maximum(m.sum(axis=1), 1.0)
        return self.head(mx.concatenate([pooled, self.xproj(x)], axis=-1)).squeeze(-1)


model = Model()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(model, x, tok, km, y):
    return nn.losses.mse_loss(model(x, tok, km), y)


vg = nn.value_and_grad(model, loss_fn)
xv, tv, kv, yv = make_batch(1000, drop_p=0.0)
t0 = time.time()
for step in range(1, 1201):
    x, tok, km, y = make_batch(128)
    loss, grads = vg(model, x, tok, km, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step in (1, 10, 50) or step % 150 == 0:
        val = loss_fn(model, xv, tv, kv, yv).item()
        print(json.dumps({"step": step, "loss": round(loss.item(), 5), "val_mse": round(val, 5),
                          "t": round(time.time() - t0, 2)}))
