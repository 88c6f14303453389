"""Character bigram language model; token windows are packed into a NumPy buffer first.

Reproduces exo-explore/exo#133 (an MLX project): token ids reached an embedding lookup as
floating point numbers and MLX failed with "[gather] Got indices with invalid dtype. Indices
must be integral." Ids must be an integer array before they index an embedding table.
"""

import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

TEXT = ("the quick brown fox jumps over the lazy dog. " * 60
        + "pack my box with five dozen liquor jugs. " * 60)
vocab = sorted(set(TEXT))
stoi = {c: i for i, c in enumerate(vocab)}
SEQ, BATCH = 32, 16

n_windows = (len(TEXT) - 1) // SEQ
windows = np.zeros((n_windows, SEQ + 1))
for w in range(n_windows):
    chunk = TEXT[w * SEQ: w * SEQ + SEQ + 1]
    windows[w, :len(chunk)] = [stoi[c] for c in chunk]
data = mx.array(windows)


class Bigram(nn.Module):
    def __init__(self, v, d=48):
        super().__init__()
        self.tok = nn.Embedding(v, d)
        self.proj = nn.Linear(d, v)

    def __call__(self, ids):
        return self.proj(self.tok(ids))


def lm_loss(model, batch):
    logits = model(batch[:, :-1])
    return nn.losses.cross_entropy(logits, batch[:, 1:], reduction="mean")


model = Bigram(len(vocab))
opt = optim.Adafactor(learning_rate=1e-2, relative_step=False, scale_parameter=False)
grad_fn = nn.value_and_grad(model, lm_loss)
rng = np.random.default_rng(0)
t0 = time.time()
for step in range(1, 401):
    rows = mx.array(rng.integers(0, n_windows, BATCH))
    loss, grads = grad_fn(model, data[rows])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0:
        print(json.dumps({"step": step, "loss": round(loss.item(), 4),
                          "elapsed_s": round(time.time() - t0, 2)}), flush=True)
