"""Fine-tune a tiny char-level causal LM on variable-length log lines.

Full training step is compiled (model + optimizer state captured), batches
are padded and the padding is masked out of the loss.
"""
import random
import string
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(0)
mx.random.seed(0)

VOCAB = string.ascii_lowercase + string.digits + " .:=-_/\n"
STOI = {c: i + 1 for i, c in enumerate(VOCAB)}  # 0 = pad
V = len(VOCAB) + 1
MAX_LEN = 640
BATCH = 2
STEPS = 450
DIM = 32


def make_line():
    words = ["level=info", "level=warn", "svc=api", "svc=db", "path=/v1/items",
             "user=", "lat_ms=", "status=200", "status=404", "retry=0"]
    out = []
    target = random.randint(12, MAX_LEN - 1)
    while len(" ".join(out)) < target:
        w = random.choice(words)
        if w.endswith("="):
            w += str(random.randint(0, 9999))
        out.append(w)
    return (" ".join(out))[:target] + "\n"


def encode(s):
    return [STOI[c] for c in s]


def batch_iter():
    while True:
        seqs = [encode(make_line()) for _ in range(BATCH)]
        width = MAX_LEN  # one fixed width: a single compiled graph
        toks = mx.array([s + [0] * (width - len(s)) for s in seqs])
        yield toks


class MixBlock(nn.Module):
    """Causal running-mean token mixing followed by a position-wise MLP."""

    def __init__(self, dim):
        super().__init__()
        self.ln = nn.LayerNorm(dim)
        self.mix = nn.Linear(2 * dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x):
        L = x.shape[1]
        h = self.ln(x)
        ctx = mx.cumsum(h, axis=1) / mx.arange(1, L + 1, dtype=h.dtype)[None, :, None]
        x = x + self.mix(mx.concatenate([h, ctx], axis=-1))
        return x + self.mlp(x)


class CharLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, DIM)
        self.pos = nn.Embedding(MAX_LEN, DIM)
        self.blocks = [MixBlock(DIM), MixBlock(DIM)]
        self.ln = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, V)

    def __call__(self, x):
        L = x.shape[1]
        h = self.emb(x) + self.pos(mx.arange(L))
        for b in self.blocks:
            h = b(h)
        return self.head(self.ln(h))


def loss_fn(model, toks):
    inp, tgt = toks[:, :-1], toks[:, 1:]
    logits = model(inp)
    ce = nn.losses.cross_entropy(logits, tgt, reduction="none")
    m = (tgt != 0).astype(ce.dtype)
    return (ce * m).sum() / m.sum()


model = CharLM()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(toks):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, toks)
    opt.update(model, grads)
    return loss


t0 = time.time()
avg = None
for step, toks in zip(range(1, STEPS + 1), batch_iter()):
    loss = train_step(toks)
    mx.eval(loss, state)
    avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
    if step % 50 == 0:
        print(f"step {step:4d} | loss {avg:.3f} | width {toks.shape[1]:3d} | {time.time() - t0:5.1f}s")
print("done")
