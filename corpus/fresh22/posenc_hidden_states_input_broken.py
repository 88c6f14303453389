"""Train a tiny character-level transformer LM with sinusoidal positions."""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("tinylm")

random.seed(0)
mx.random.seed(0)

# ---- synthetic corpus: simple counting "sentences" -------------------------
words = ["zero", "one", "two", "three", "four", "five", "six", "seven"]
text = " ".join(words[(i * 3) % 8] + " " + words[(i * 3 + 1) % 8] + "." for i in range(600))
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
VOCAB = len(chars)
SEQ = 24
D_MODEL = 32


class Sinusoidal(nn.Module):
    """Adds fixed sinusoidal position information to token embeddings."""

    def __init__(self, d_model, max_seq_len):
        super().__init__()
        self._embed = nn.SinusoidalPositionalEncoding(d_model, max_freq=max_seq_len)

    def __call__(self, x):
        return x + self._embed(x)


class TinyLM(nn.Module):
    def __init__(self, vocab, d_model, n_layers=2, n_heads=4, max_seq_len=SEQ):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = Sinusoidal(d_model, max_seq_len)
        self.blocks = [
            nn.TransformerEncoderLayer(d_model, n_heads, mlp_dims=4 * d_model, norm_first=True)
            for _ in range(n_layers)
        ]
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, vocab)

    def __call__(self, idx):
        L = idx.shape[1]
        mask = nn.MultiHeadAttention.create_additive_causal_mask(L)
        x = self.pos(self.tok(idx))
        for b in self.blocks:
            x = b(x, mask)
        return self.out(self.norm(x))


def get_batch(bs=16):
    starts = [random.randrange(0, data.size - SEQ - 1) for _ in range(bs)]
    x = mx.stack([data[s : s + SEQ] for s in starts])
    y = mx.stack([data[s + 1 : s + SEQ + 1] for s in starts])
    return x, y


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


model = TinyLM(VOCAB, D_MODEL)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)

log.info("vocab=%d tokens=%d chance-level loss=%.3f", VOCAB, data.size, math.log(VOCAB))
for step in range(1, 601):
    x, y = get_batch()
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0 or step == 1:
        log.info("step %4d  train_loss %.4f", step, loss.item())

log.info("finished")
