# Tiny encoder-decoder: learn to reverse a digit string (teacher forcing).
# Decoder layer written by hand, pre-LN, like mlx.nn.TransformerDecoderLayer.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(7)
V, BOS, L, D, H = 12, 10, 6, 32, 4


class DecoderLayer(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.self_attention = nn.MultiHeadAttention(dims, heads)
        self.cross_attention = nn.MultiHeadAttention(dims, heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.ln3 = nn.LayerNorm(dims)
        self.linear1 = nn.Linear(dims, 4 * dims)
        self.linear2 = nn.Linear(4 * dims, dims)

    def __call__(self, x, memory, x_mask, memory_mask):
        y = self.ln1(x)
        y = self.self_attention(y, y, y, x_mask)
        x = x + y

        y = self.ln2(x)
        y = self.cross_attention(x, memory, memory, memory_mask)
        x = x + y

        y = self.ln3(x)
        y = self.linear1(y)
        y = mx.maximum(y, 0)
        y = self.linear2(y)
        x = x + y
        return x


class Reverser(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, D)
        self.tgt_emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(L + 1, D)
        self.encoder = nn.TransformerEncoder(1, D, H, norm_first=True)
        self.dec = [DecoderLayer(D, H), DecoderLayer(D, H)]
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)

    def __call__(self, src, dec_in):
        p = mx.arange(src.shape[1])
        mem = self.encoder(self.src_emb(src) + self.pos(p), None)
        q = mx.arange(dec_in.shape[1])
        x = self.tgt_emb(dec_in) + self.pos(q)
        causal = nn.MultiHeadAttention.create_additive_causal_mask(dec_in.shape[1])
        for layer in self.dec:
            x = layer(x, mem, causal, None)
        return self.head(self.ln_f(x))


def batch(n):
    src = mx.random.randint(0, 10, (n, L))
    tgt = src[:, ::-1]
    dec_in = mx.concatenate([mx.full((n, 1), BOS, dtype=src.dtype), tgt[:, :-1]], axis=1)
    return src, dec_in, tgt


model = Reverser()
mx.eval(model.parameters())
start = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)


def loss_fn(m, src, dec_in, tgt):
    logits = m(src, dec_in)
    return nn.losses.cross_entropy(logits, tgt, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def drift(prefix):
    tot = 0.0
    for k, v in tree_flatten(model.parameters()):
        if k.startswith(prefix):
            tot += float(mx.sum((v - start[k]) ** 2).item())
    return tot ** 0.5


t0 = time.time()
for it in range(1, 161):
    src, dec_in, tgt = batch(32)
    loss, grads = step_fn(model, src, dec_in, tgt)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0:
        vs, vd, vt = batch(128)
        pred = mx.argmax(model(vs, vd), axis=-1)
        acc = mx.mean(pred == vt).item() * 100
        print(f"it {it:4d} | xent {loss.item():.4f} | tok-acc {acc:5.1f}% | "
              f"dW ln1 {drift('dec.0.ln1'):.3f} ln2 {drift('dec.0.ln2'):.3f} "
              f"ln3 {drift('dec.0.ln3'):.3f} xattn {drift('dec.0.cross_attention'):.3f}")
print(f"done in {time.time() - t0:.1f}s")
