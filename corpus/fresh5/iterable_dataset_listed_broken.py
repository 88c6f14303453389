"""Streaming pre-training of a tiny next-token model on an endless synthetic corpus.

The corpus is a generator (think `load_dataset(..., streaming=True)`): it never ends,
so the loader keeps a small shuffle buffer and tokenizes documents on the fly.
"""
import itertools
import logging
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("stream-lm")

WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park",
         "bird", "sang", "in", "tree", "sun", "was", "warm", "and", "bright"]
TEMPLATES = [
    ["the", "{n}", "sat", "on", "the", "mat"],
    ["a", "{n}", "ran", "to", "the", "park"],
    ["the", "{n}", "sang", "in", "a", "tree"],
    ["the", "sun", "was", "warm", "and", "bright"],
]
NOUNS = ["cat", "dog", "bird"]

CHARS = sorted(set(" ".join(WORDS) + " ."))
STOI = {c: i for i, c in enumerate(CHARS)}
VOCAB = len(CHARS)
CTX = 4


def corpus_stream(seed=0):
    """Endless stream of small text documents."""
    rng = random.Random(seed)
    while True:
        sents = []
        for _ in range(rng.randint(2, 4)):
            t = rng.choice(TEMPLATES)
            sents.append(" ".join(w.format(n=rng.choice(NOUNS)) for w in t))
        yield {"text": " . ".join(sents) + " ."}


def tokenize(doc):
    return [STOI[c] for c in doc["text"]]


class StreamingBatches:
    def __init__(self, source, batch_size=64, buffer_size=256, seed=0):
        self.source = source
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.rng = random.Random(seed)

    def __iter__(self):
        while True:
            # fill the shuffle buffer from the stream
            rows = list(self.source)
            if not rows:
                return
            self.rng.shuffle(rows)
            windows = []
            for doc in rows:
                toks = tokenize(doc)
                for i in range(0, len(toks) - CTX, 3):
                    windows.append(toks[i:i + CTX + 1])
            self.rng.shuffle(windows)
            for i in range(0, len(windows) - self.batch_size + 1, self.batch_size):
                chunk = mx.array(windows[i:i + self.batch_size])
                yield chunk[:, :CTX], chunk[:, CTX]


class NextChar(nn.Module):
    def __init__(self, vocab, dim=32, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(CTX * dim, hidden), nn.GELU(), nn.Linear(hidden, vocab))

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.mlp(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(0)
    model = NextChar(VOCAB)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.01)
    step_fn = nn.value_and_grad(model, loss_fn)

    loader = StreamingBatches(corpus_stream(seed=1), batch_size=64, buffer_size=256)
    max_steps = 400
    t0 = time.time()
    log.info("starting streaming training, vocab=%d, max_steps=%d", VOCAB, max_steps)
    running = 0.0
    for step, (x, y) in enumerate(itertools.islice(loader, max_steps), start=1):
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running += loss.item()
        if step % 50 == 0:
            avg = running / 50
            running = 0.0
            log.info("step %4d | ppl %7.3f | %.1f steps/s", step, math.exp(avg), step / (time.time() - t0))
    log.info("done in %.1fs", time.time() - t0)


if __name__ == "__main__":
    main()
