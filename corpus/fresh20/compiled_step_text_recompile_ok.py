"""Duration predictor for a toy TTS: predict utterance length (seconds)
from the transcript. The whole train step (forward, backward, AdamW update)
is wrapped in mx.compile with model/optimizer/random state captured.
"""
import random
import resource
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEQ_LEN = 32
BATCH = 8
STEPS = 3000
random.seed(0)
mx.random.seed(0)

WORDS = ("the of and to in is was he for it with as his on be at by had are but from "
         "not have this which she they or an were her all their one been would there").split()


def make_batch():
    texts = [" ".join(random.choice(WORDS) for _ in range(random.randint(2, 6))) for _ in range(BATCH)]
    # "seconds" of speech ~ characters spoken
    durations = mx.array([0.07 * len(t) + 0.2 for t in texts])
    return texts, durations


def encode(texts):
    ids = [[ord(c) % 128 for c in t[:SEQ_LEN]] for t in texts]
    return mx.array([row + [0] * (SEQ_LEN - len(row)) for row in ids])


class DurationPredictor(nn.Module):
    def __init__(self, dims=64):
        super().__init__()
        self.embed = nn.Embedding(128, dims)
        self.mlp = nn.Sequential(nn.Linear(dims, dims), nn.SiLU(), nn.Linear(dims, 1))

    def __call__(self, tokens):
        mask = (tokens > 0).astype(mx.float32)[..., None]
        h = self.mlp(self.embed(tokens)) * mask
        return h.sum(axis=(1, 2))


model = DurationPredictor()
mx.eval(model.parameters())
optimizer = optim.AdamW(learning_rate=1e-3, weight_decay=1e-2)


def loss_fn(model, tokens, durations):
    return nn.losses.l1_loss(model(tokens), durations)


state = [model.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(tokens, durations):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, tokens, durations)
    grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)
    optimizer.update(model, grads)
    return loss


t0 = time.time()
running = 0.0
for step in range(1, STEPS + 1):
    texts, durations = make_batch()
    loss = train_step(encode(texts), durations)
    mx.eval(state, loss)
    running += loss.item()
    if step % 250 == 0:
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"step {step:5d}  l1 {running / 250:.4f}  max_rss {rss_mb:7.1f} MB  "
              f"{(time.time() - t0) / step * 1000:.2f} ms/step")
        running = 0.0
