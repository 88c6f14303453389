# Tiny char-level transformer LM on made-up sea-shanty lines (model code follows mlx-llm's Transformer)
import time
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

random.seed(3)
mx.random.seed(3)

NAMES = ["Liverpool", "Bristol", "Mobile Bay", "Valparaiso", "Hull", "Boston"]
VERBS = ["haul", "heave", "row", "roll", "pull", "sway"]
def shanty():
    n = random.choice(NAMES); v = random.choice(VERBS)
    return f"oh we {v} away for {n}, and we {v} her home again. "
text = "".join(shanty() for _ in range(400))
vocab = sorted(set(text))
stoi = {c: i for i, c in enumerate(vocab)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
V = len(vocab)


class Block(nn.Module):
    def __init__(self, dim, n_heads, hidden_dim):
        super().__init__()
        self.attention_norm = nn.RMSNorm(dim)
        self.attention = nn.MultiHeadAttention(dim, n_heads)
        self.mlp_norm = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, dim))

    def __call__(self, x, mask):
        h = self.attention_norm(x)
        x = x + self.attention(h, h, h, mask)
        return x + self.mlp(self.mlp_norm(x))


class Transformer(nn.Module):
    def __init__(self, dim, hidden_dim, vocab_size, n_layers, n_heads, gemma: bool = False):
        super().__init__()
        self.dim = dim
        self.gemma = gemma
        self.token_embed = nn.Embedding(vocab_size, dim)
        self.layers = [Block(dim, n_heads, hidden_dim) for _ in range(n_layers)]
        self.norm = nn.RMSNorm(dim)
        if not self.gemma:
            self.head = nn.Linear(dim, vocab_size, bias=False)
        else:
            self.head = None

    def embed(self, x):
        h = self.token_embed(x)
        if self.gemma:
            h = h * (self.dim ** 0.5)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(h.shape[1]).astype(h.dtype)
        for layer in self.layers:
            h = layer(h, mask)
        return self.norm(h)

    def __call__(self, x):
        x = self.embed(x)
        if self.gemma is not None:
            out = self.token_embed.as_linear(x)
        else:
            out = self.head(x)
        return out


model = Transformer(dim=48, hidden_dim=96, vocab_size=V, n_layers=2, n_heads=4, gemma=False)
mx.eval(model.parameters())
start = {k: mx.array(v) for k, v in tree_flatten(model.parameters())}

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

SEQ, BATCH = 24, 12
def batch():
    ix = mx.random.randint(0, data.size - SEQ - 1, (BATCH,))
    idx = ix[:, None] + mx.arange(SEQ)[None]
    return data[idx], data[idx + 1]

t0 = time.time()
for it in range(1, 121):
    x, y = batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 15 == 0:
        print(f"iter {it:4d} | train loss {loss.item():.4f} | ppl {mx.exp(loss).item():7.3f} | {time.time()-t0:5.1f}s")

print("parameter drift since init (L2 of W - W0):")
groups = {}
for k, v in tree_flatten(model.parameters()):
    top = k.split(".")[0]
    groups[top] = groups.get(top, 0.0) + mx.sum((v - start[k]) ** 2).item()
for top, d in groups.items():
    print(f"  {top:12s} {d ** 0.5:.5f}")
