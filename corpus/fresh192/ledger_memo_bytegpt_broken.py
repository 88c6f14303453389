# Tiny byte-level GPT on synthetic bookkeeping memo lines
# (sinusoidal positions cached on the model, as in sml-mlx model/model.py)
import math, random, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def sinusoidal_positions(T: int, D: int) -> mx.array:
    pos = mx.arange(T)[:, None].astype(mx.float32)
    i = mx.arange(D // 2)[None, :].astype(mx.float32)
    angle = pos / mx.power(10000.0, 2 * i / D)
    return mx.concatenate([mx.sin(angle), mx.cos(angle)], axis=-1)


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = nn.MultiHeadAttention(d, h)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.mlp(self.ln2(x))


class TinyGPLM(nn.Module):
    def __init__(self, vocab=256, d=64, heads=4, layers=2, max_seq=64):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        # no learned pos emb to keep params small
        self.register_buffer("pos_cache", sinusoidal_positions(max_seq, d))
        self.blocks = [Block(d, heads) for _ in range(layers)]
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def __call__(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos_cache[:T, :]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.ln_f(x))


def make_corpus(n, rng):
    accts = ["cash", "rent", "fuel", "wages", "stock", "tax"]
    lines = []
    for _ in range(n):
        a, b = rng.sample(accts, 2)
        amt = rng.randint(10, 999)
        lines.append(f"dr {a} {amt} cr {b} {amt};\n")
    return "".join(lines).encode()


def main():
    rng = random.Random(7)
    mx.random.seed(7)
    data = mx.array(list(make_corpus(3000, rng)), dtype=mx.int32)
    ctx, bs = 24, 16
    model = TinyGPLM(max_seq=ctx)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)

    def loss_fn(m, x, y):
        logits = m(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean")

    step_fn = nn.value_and_grad(model, loss_fn)
    n = data.shape[0] - ctx - 1
    t0 = time.time()
    for it in range(1, 121):
        starts = mx.random.randint(0, n, (bs,))
        offs = starts[:, None] + mx.arange(ctx + 1)[None, :]
        chunk = data[offs]
        loss, grads = step_fn(model, chunk[:, :-1], chunk[:, 1:])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 10 == 0:
            bpc = loss.item() / math.log(2)
            print(f"iter {it:4d} | loss {loss.item():.4f} | bpc {bpc:.3f} | {time.time() - t0:.1f}s")
    print("done")


if __name__ == "__main__":
    main()
