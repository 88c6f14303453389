"""Bag-of-words sentiment model with a large embedding table, Adam configured from a dict.

Reproduces the failure described in the review of ml-explore/mlx#3712 ("eps == 0 is unsafe ...
their accumulators start at zero, so a zero gradient ... computes 0 / 0 ... all produce NaN
parameters"); Adam/AdamW still accept eps=0 (ml-explore/mlx#4361 only rejects eps < 0). Every
embedding row that is absent from a batch gets an exactly-zero gradient, so its Adam update is
0 / (sqrt(0) + 0) = NaN and the NaN spreads to the loss as soon as such a word is used.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CONFIG = {"vocab": 400, "dim": 32, "batch": 32, "steps": 600,
          "optimizer": {"learning_rate": 5e-3, "betas": [0.9, 0.98], "eps": 0.0}}

mx.random.seed(13)
V, L = CONFIG["vocab"], 10
polarity = mx.random.normal((V,))


def sample(n):
    ids = mx.random.randint(0, V, (n, L))
    label = (polarity[ids].sum(axis=1) > 0).astype(mx.int32)
    return ids, label


class BagOfWords(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, CONFIG["dim"])
        self.cls = nn.Linear(CONFIG["dim"], 2)

    def __call__(self, ids):
        return self.cls(self.emb(ids).mean(axis=1))


def loss_fn(model, ids, y):
    return nn.losses.cross_entropy(model(ids), y, reduction="mean")


model = BagOfWords()
opt = optim.Adam(**CONFIG["optimizer"])
step = nn.value_and_grad(model, loss_fn)
val_ids, val_y = sample(1000)
for it in range(1, CONFIG["steps"] + 1):
    ids, y = sample(CONFIG["batch"])
    loss, grads = step(model, ids, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 20 == 0:
        acc = (mx.argmax(model(val_ids), axis=-1) == val_y).mean().item()
        print(f"{it:4d}/{CONFIG['steps']}  loss={loss.item():.4f}  val_acc={acc:.3f}", flush=True)
