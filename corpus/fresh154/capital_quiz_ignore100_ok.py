# Tiny causal LM fine-tune: "country -> capital" quiz strings, right-padded.
# Labels use the PyTorch convention: padding positions are -100.
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
PAIRS = [("france", "paris"), ("peru", "lima"), ("japan", "tokyo"), ("egypt", "cairo"),
         ("kenya", "nairobi"), ("chile", "santiago"), ("cuba", "havana"), ("iran", "tehran"),
         ("mali", "bamako"), ("oman", "muscat"), ("fiji", "suva"), ("laos", "vientiane"),
         ("nepal", "kathmandu"), ("qatar", "doha"), ("spain", "madrid"), ("italy", "rome")]
CHARS = sorted(set("".join(a + b for a, b in PAIRS)))
PAD, BOS, SEP, EOS = 0, 1, 2, 3
stoi = {c: i + 4 for i, c in enumerate(CHARS)}
V = len(stoi) + 4
L = 24
IGNORE = -100


def encode(country, capital):
    ids = [BOS] + [stoi[c] for c in country] + [SEP] + [stoi[c] for c in capital] + [EOS]
    inp, lab = ids[:-1], ids[1:]
    n = len(inp)
    inp = inp + [PAD] * (L - n)
    lab = lab + [IGNORE] * (L - n)
    return inp, lab


rows = [encode(a, b) for a, b in PAIRS]
X = mx.array([r[0] for r in rows], dtype=mx.int32)
Y = mx.array([r[1] for r in rows], dtype=mx.int32)


class TinyLM(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.tok = nn.Embedding(V, d)
        self.pos = nn.Embedding(L, d)
        self.attn = nn.MultiHeadAttention(d, 4)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
        self.head = nn.Linear(d, V)

    def __call__(self, x):
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        m = nn.MultiHeadAttention.create_additive_causal_mask(x.shape[1])
        z = self.ln1(h)
        h = h + self.attn(z, z, z, mask=m)
        h = h + self.ff(self.ln2(h))
        return self.head(h)


def loss_fn(model, x, y):
    logits = model(x)
    valid = (y != IGNORE).astype(mx.float32)
    safe_y = mx.where(y == IGNORE, 0, y)
    per_tok = nn.losses.cross_entropy(logits, safe_y, reduction="none")
    return mx.sum(per_tok * valid) / mx.sum(valid)


def valid_token_acc(model, x, y):
    pred = mx.argmax(model(x), axis=-1)
    keep = y != IGNORE
    return (mx.sum((pred == y) & keep) / mx.sum(keep)).item()


model = TinyLM()
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for step in range(1, 401):
    loss, grads = step_fn(model, X, Y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0 or step == 1:
        print(f"step {step:4d}  train_loss {loss.item():9.4f}  tok_acc {valid_token_acc(model, X, Y):.3f}")
print(f"done in {time.time() - t0:.1f}s")
