"""Single-layer causal transformer on a 'running max' sequence task. Future
positions are masked with -inf; the diagonal is always visible."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T, V, D = 10, 8, 32


class CausalSelfAttention(nn.Module):
    def __init__(self, dim, heads=2):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.o = nn.Linear(dim, dim)

    def __call__(self, x):
        B, L, Dm = x.shape
        q, k, v = mx.split(self.qkv(x), 3, axis=-1)
        q, k, v = (t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for t in (q, k, v))
        scores = (q @ k.transpose(0, 1, 3, 2)) * (q.shape[-1] ** -0.5)
        allowed = mx.tril(mx.ones((L, L), dtype=mx.bool_))      # keys j <= i, incl. i itself
        scores = mx.where(allowed, scores, -mx.inf)
        attn = mx.softmax(scores, axis=-1)
        out = (attn @ v).transpose(0, 2, 1, 3).reshape(B, L, Dm)
        return self.o(out)


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(T, D)
        self.attn = CausalSelfAttention(D)
        self.ln = nn.LayerNorm(D)
        self.ff = nn.Sequential(nn.Linear(D, 64), nn.GELU(), nn.Linear(64, D))
        self.head = nn.Linear(D, V)

    def __call__(self, ids):
        h = self.emb(ids) + self.pos(mx.arange(ids.shape[1]))
        h = h + self.attn(h)
        h = h + self.ff(self.ln(h))
        return self.head(h)


def batch(n):
    ids = mx.random.randint(0, V, (n, T))
    return ids, mx.cummax(ids, axis=1)


def main():
    mx.random.seed(0)
    gpt = TinyGPT()
    opt = optim.AdamW(learning_rate=3e-3)
    vg = nn.value_and_grad(gpt, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
    for it in range(150):
        ids, tgt = batch(32)
        loss, g = vg(gpt, ids, tgt)
        opt.update(gpt, g)
        mx.eval(gpt.parameters(), opt.state)
        if it % 30 == 0 or it == 149:
            ids, tgt = batch(256)
            acc = (gpt(ids).argmax(-1) == tgt).mean().item()
            print(f"it {it} loss {loss.item():.4f} token acc {acc:.3f}")


if __name__ == "__main__":
    main()
