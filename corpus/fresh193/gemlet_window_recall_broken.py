# Tiny Gemma-style LM with interleaved sliding-window / global attention layers,
# trained on a long-range recall task: the last position must output the first token.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)

VOCAB, DIM, HEADS, LAYERS = 8, 32, 2, 2
SEQ, WINDOW, PATTERN = 10, 2, 2   # every PATTERN-th layer is global


def create_attention_mask(T, window=None):
    i = mx.arange(T)[:, None]
    j = mx.arange(T)[None, :]
    allowed = j <= i
    if window is not None:
        allowed = allowed & ((i - j) < window)
    return mx.where(allowed, 0.0, -1e9).astype(mx.float32)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.RMSNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.ln2 = nn.RMSNorm(DIM)
        self.mlp = nn.Sequential(nn.Linear(DIM, 4 * DIM), nn.GELU(), nn.Linear(4 * DIM, DIM))

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask=mask)
        return x + self.mlp(self.ln2(x))


class TinyGemma(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(SEQ, DIM)
        self.layers = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB)

    def __call__(self, tokens, mask=None):
        T = tokens.shape[1]
        h = self.embed(tokens) * DIM**0.5 + self.pos(mx.arange(T))
        if mask is None:
            full_mask = create_attention_mask(T)
            sliding_window_mask = create_attention_mask(T, WINDOW)
        for i, layer in enumerate(self.layers):
            is_sliding = i % PATTERN == PATTERN - 1
            if mask is None and is_sliding:
                mask = full_mask
            elif mask is None:
                mask = sliding_window_mask
            h = layer(h, mask)
        return self.head(self.norm(h))


def batch(n):
    toks = mx.random.randint(0, VOCAB, (n, SEQ))
    return toks, toks[:, 0]


def loss_fn(model, toks, target):
    logits = model(toks)[:, -1, :]
    return nn.losses.cross_entropy(logits, target, reduction="mean")


model = TinyGemma()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
val_x, val_y = batch(256)

t0 = time.time()
for step in range(1, 301):
    x, y = batch(64)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 30 == 0:
        acc = (mx.argmax(model(val_x)[:, -1, :], axis=-1) == val_y).mean().item()
        print(f"step {step:04d} | loss {loss.item():.4f} | recall acc {100 * acc:5.1f}%")
print(f"done in {time.time() - t0:.1f}s (chance = {100 / VOCAB:.1f}%, ln V = 2.0794)")
