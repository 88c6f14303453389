"""Tiny byte-level transformer LM ("pocket pulga"), trained with AdamW.
Weights are stored in float16 to keep the checkpoint small."""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx import utils

mx.random.seed(3)

DIM, HEADS, LAYERS, VOCAB, CTX = 64, 4, 2, 96, 32
BATCH, STEPS, LR = 16, 160, 1e-3

SUBJECTS = ["the cat", "a small dog", "my friend", "the old man", "a red bird", "the girl"]
VERBS = ["sees", "likes", "finds", "follows", "paints", "watches"]
OBJECTS = ["the moon", "a green tree", "the river", "an apple", "the little house", "a blue boat"]


def make_corpus(n=1500):
    import random
    rng = random.Random(0)
    lines = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}." for _ in range(n)]
    return " ".join(lines)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.RMSNorm(DIM)
        self.attn = nn.MultiHeadAttention(DIM, HEADS)
        self.ln2 = nn.RMSNorm(DIM)
        self.w1 = nn.Linear(DIM, 4 * DIM, bias=False)
        self.w2 = nn.Linear(4 * DIM, DIM, bias=False)

    def __call__(self, x, mask):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, mask)
        return x + self.w2(nn.silu(self.w1(self.ln2(x))))


class PocketLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, DIM)
        self.pos = nn.Embedding(CTX, DIM)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, ids):
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(mx.arange(T))
        mask = nn.MultiHeadAttention.create_additive_causal_mask(T).astype(x.dtype)
        for b in self.blocks:
            x = b(x, mask)
        return self.head(self.norm(x))


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1), reduction="mean")


def main():
    text = make_corpus()
    data = mx.array([min(ord(c) - 32, VOCAB - 1) for c in text])
    n = data.shape[0]

    model = PocketLM()
    # keep the weights in half precision so the checkpoint stays tiny
    model.update(utils.tree_map(lambda a: a.astype(mx.float16), model.parameters()))
    mx.eval(model.parameters())

    opt = optim.AdamW(learning_rate=LR)
    step_fn = nn.value_and_grad(model, loss_fn)

    t0 = time.perf_counter()
    for it in range(1, STEPS + 1):
        starts = mx.random.randint(0, n - CTX - 1, (BATCH,))
        idx = starts[:, None] + mx.arange(CTX + 1)[None, :]
        chunk = data[idx]
        loss, grads = step_fn(model, chunk[:, :-1], chunk[:, 1:])
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        if it % 20 == 0 or it == 1:
            print(f"step {it:4d} | loss {loss.item():.4f} | {time.perf_counter() - t0:5.1f}s")

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "pulga.safetensors")
        model.save_weights(path)
        print(f"saved {os.path.getsize(path) / 1024:.1f} KiB to {path}")


if __name__ == "__main__":
    main()
