# Tiny token model with per-layer "value embeddings" (stored in a dict keyed by
# layer index) and a hand-written momentum optimizer that writes each updated
# tensor back into the model by its dotted path.
import random

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

random.seed(0)
mx.random.seed(0)

V, D, T, N_LAYER = 32, 48, 16, 3
VE_LAYERS = [0, 2]  # layers that get a value embedding


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.RMSNorm(D)
        self.fc1 = nn.Linear(D, 2 * D)
        self.fc2 = nn.Linear(2 * D, D)

    def __call__(self, x, ve=None):
        if ve is not None:
            x = x + ve
        return x + self.fc2(nn.gelu(self.fc1(self.norm(x))))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(V, D)
        self.blocks = [Block() for _ in range(N_LAYER)]
        self.value_embeds = {str(i): nn.Embedding(V, D) for i in VE_LAYERS}
        self.head = nn.Linear(D, V)

    def __call__(self, idx):
        x = self.wte(idx)
        for i, blk in enumerate(self.blocks):
            ve = self.value_embeds[str(i)](idx) if str(i) in self.value_embeds else None
            x = blk(x, ve)
        return self.head(x)


def _set_param_by_path(model, path, value):
    parts = path.split(".")
    obj = model
    for part in parts[:-1]:
        if part.isdigit():
            obj = obj[int(part)]
        else:
            obj = obj[part]
    obj[parts[-1]] = value


class Momentum:
    def __init__(self, lr=0.05, beta=0.9):
        self.lr, self.beta, self.buf = lr, beta, {}

    def step(self, model, grads):
        params = dict(tree_flatten(model.trainable_parameters()))
        for path, g in tree_flatten(grads):
            b = self.buf.get(path)
            b = g if b is None else self.beta * b + g
            self.buf[path] = b
            _set_param_by_path(model, path, params[path] - self.lr * b)


# data: a noisy cyclic sequence so the next token is predictable
def batch(bs=32):
    xs = []
    for _ in range(bs):
        start = random.randrange(V)
        seq = [(start + 3 * k) % V for k in range(T + 1)]
        seq = [t if random.random() > 0.05 else random.randrange(V) for t in seq]
        xs.append(seq)
    a = mx.array(xs)
    return a[:, :-1], a[:, 1:]


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = TinyLM()
mx.eval(model.parameters())
opt = Momentum()
lg = nn.value_and_grad(model, loss_fn)

for step in range(1, 301):
    x, y = batch()
    loss, grads = lg(model, x, y)
    opt.step(model, grads)
    mx.eval(model.parameters(), list(opt.buf.values()))
    if step % 25 == 0 or step == 1:
        print(f"step {step:05d} | loss {loss.item():.4f} | lr {opt.lr:.1e}")
