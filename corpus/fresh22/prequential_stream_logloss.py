# Online (single-pass) learning on a click-like stream with prequential evaluation:
# every mini-batch is first *scored* with the current model (test), then used for one
# SGD step (train). The headline numbers are cumulative averages since the start of
# the stream, so they move slowly and never reflect the current model alone.
import math
import random
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)
F, CHUNK, TOTAL = 12, 8, 9600


def stream():
    w = mx.random.normal((F,)) * 0.9
    for _ in range(TOTAL // CHUNK):
        x = mx.random.normal((CHUNK, F))
        logit = x @ w + 0.8 * x[:, 0] * x[:, 1] - 0.5
        y = (mx.random.uniform(shape=(CHUNK,)) < mx.sigmoid(logit)).astype(mx.float32)
        yield x, y


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(F, 16)
        self.fc2 = nn.Linear(16, 1)

    def __call__(self, x):
        return self.fc2(nn.tanh(self.fc1(x))).squeeze(-1)


def bce(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


model = Scorer()
opt = optim.SGD(learning_rate=0.05)
vg = nn.value_and_grad(model, bce)

seen = 0
cum_loss = 0.0
cum_hits = 0
base_pos = 0.0
win = []
w = sys.stdout.write
w("   seen | preq logloss | preq acc | last-800 logloss | base-rate logloss\n")
for x, y in stream():
    # --- test: score with the model *before* it has seen this chunk
    logits = model(x)
    l = nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="none")
    hits = ((logits > 0).astype(mx.float32) == y).sum()
    mx.eval(l, hits)
    lv = l.sum().item()
    cum_loss += lv
    cum_hits += int(hits.item())
    base_pos += y.sum().item()
    seen += CHUNK
    win.append(lv / CHUNK)
    win = win[-100:]
    # --- train: one SGD step on the same chunk
    _, grads = vg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if seen % 800 == 0:
        p = min(max(base_pos / seen, 1e-6), 1 - 1e-6)
        base = -(p * math.log(p) + (1 - p) * math.log(1 - p))
        w(f"{seen:7d} |    {cum_loss / seen:.4f}    |  {cum_hits / seen:.3f}   |      "
          f"{sum(win) / len(win):.4f}      |      {base:.4f}\n")
        sys.stdout.flush()
w("stream exhausted\n")
