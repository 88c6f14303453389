"""Character-level GRU language model on a small built-in text, with global
grad-norm clipping before each SGD-momentum step. Logs via `logging`."""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("gru-lm")

TEXT = (
    "the quick brown fox jumps over the lazy dog. "
    "a stitch in time saves nine. "
    "all that glitters is not gold. "
    "the early bird catches the worm. "
) * 40

MAX_GRAD_NORM = 1.0
SEQ, BATCH, STEPS = 32, 32, 240

chars = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in TEXT], dtype=np.int32)
rng = np.random.default_rng(11)


class CharGRU(nn.Module):
    def __init__(self, vocab, dim=48, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, hidden)
        self.head = nn.Linear(hidden, vocab)

    def __call__(self, x):
        return self.head(self.rnn(self.emb(x)))


def batch():
    starts = rng.integers(0, len(data) - SEQ - 1, BATCH)
    x = np.stack([data[s:s + SEQ] for s in starts])
    y = np.stack([data[s + 1:s + SEQ + 1] for s in starts])
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    model = CharGRU(len(chars))
    opt = optim.SGD(learning_rate=0.5, momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)
    log.info("vocab=%d params=%d", len(chars),
             sum(v.size for _, v in __import__("mlx.utils").utils.tree_flatten(model.parameters())))
    t0 = time.time()
    running = None
    for step in range(1, STEPS + 1):
        x, y = batch()
        loss, grads = vg(model, x, y)
        grad_norm = 0.0
        if MAX_GRAD_NORM > 0:
            grads, grad_norm_mx = optim.clip_grad_norm(grads, MAX_GRAD_NORM)
            grad_norm = float(grad_norm_mx.item())
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running = loss.item() if running is None else 0.9 * running + 0.1 * loss.item()
        if step % 40 == 0 or step == 1:
            log.info("step %4d  loss %.4f  ppl %.2f  |g| %.3f  %.1fs",
                     step, running, math.exp(running), grad_norm, time.time() - t0)


if __name__ == "__main__":
    main()
