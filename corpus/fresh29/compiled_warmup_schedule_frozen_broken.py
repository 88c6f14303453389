# Tiny character LM, trained with a compiled step and an HF-style
# "linear warmup then cosine" learning-rate schedule.
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

TEXT = (
    "she sells sea shells by the sea shore. "
    "peter piper picked a peck of pickled peppers. "
    "how much wood would a woodchuck chuck if a woodchuck could chuck wood. "
) * 30
VOCAB = sorted(set(TEXT))
STOI = {c: i for i, c in enumerate(VOCAB)}
DATA = mx.array([STOI[c] for c in TEXT], dtype=mx.int32)
CTX = 8


class CharMLP(nn.Module):
    def __init__(self, vocab, dim=32, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.fc1 = nn.Linear(CTX * dim, hidden)
        self.fc2 = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        return self.fc2(nn.gelu(self.fc1(h)))


def get_batch(bs=64):
    ix = mx.random.randint(0, DATA.size - CTX - 1, (bs,))
    offs = mx.arange(CTX)
    x = DATA[ix[:, None] + offs[None, :]]
    y = DATA[ix + CTX]
    return x, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = CharMLP(len(VOCAB))
mx.eval(model.parameters())

TOTAL, WARMUP, PEAK = 400, 40, 3e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARMUP), optim.cosine_decay(PEAK, TOTAL - WARMUP, 0.0)],
    [WARMUP],
)
optimizer = optim.AdamW(learning_rate=schedule, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)

state = [model.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    return loss


t0 = time.time()
for step in range(1, TOTAL + 1):
    x, y = get_batch()
    loss = train_step(x, y)
    mx.eval(loss, model.parameters())
    if step == 1 or step % 25 == 0:
        print(json.dumps({"step": step, "loss": round(loss.item(), 4),
                          "elapsed": round(time.time() - t0, 2)}))

xv, yv = get_batch(512)
acc = (mx.argmax(model(xv), axis=-1) == yv).mean().item()
print(json.dumps({"event": "done", "next_char_acc": round(acc, 4)}))
