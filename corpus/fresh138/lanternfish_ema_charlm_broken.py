"""Tiny character LM on a synthetic ship's-log corpus, trained with AdamW and
an exponential moving average (EMA) of the weights that is used for the final
evaluation (the same recipe as the parameter-golf MLX baseline)."""
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

random.seed(3)
mx.random.seed(3)

# ---- synthetic corpus --------------------------------------------------------
PORTS = ["brest", "vigo", "cadiz", "oporto", "lorient", "bilbao"]
WIND = ["nw", "sw", "ne", "se", "n", "w"]
lines = []
for _ in range(3000):
    lines.append(f"{random.choice(PORTS)} {random.choice(WIND)} f{random.randint(2, 8)} "
                 f"{random.randint(10, 99)}nm;")
text = " ".join(lines)
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = mx.array([stoi[c] for c in text], dtype=mx.int32)
split = int(0.9 * data.size)
train_ids, val_ids = data[:split], data[split:]
V, CTX = len(chars), 8


class CharMLP(nn.Module):
    def __init__(self, vocab, ctx, d=24, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.fc1 = nn.Linear(ctx * d, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, vocab)

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        h = nn.gelu(self.fc1(h))
        h = nn.gelu(self.fc2(h))
        return self.out(h)


def batch(ids, bs):
    ix = mx.random.randint(0, ids.size - CTX - 1, (bs,))
    offs = mx.arange(CTX)
    x = ids[ix[:, None] + offs[None, :]]
    y = ids[ix + CTX]
    return x, y


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def eval_loss(model, ids, n=8):
    tot = 0.0
    for _ in range(n):
        x, y = batch(ids, 256)
        tot += loss_fn(model, x, y).item()
    return tot / n


model = CharMLP(V, CTX)
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=0.01)
loss_and_grad = nn.value_and_grad(model, loss_fn)

EMA_DECAY = 0.997
ema_params = {k: v.astype(mx.float32) for k, v in tree_flatten(model.parameters())}

STEPS, BS = 1200, 64
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"vocab={V} params={n_params} steps={STEPS}")
t0 = time.perf_counter()
tok = 0
for step in range(1, STEPS + 1):
    x, y = batch(train_ids, BS)
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    tok += BS

    # EMA update (float params only)
    for k, v in tree_flatten(model.parameters()):
        if k in ema_params:
            ema_params[k] = ema_params[k] * EMA_DECAY + v.astype(mx.float32) * (1.0 - EMA_DECAY)

    if step == 1 or step % 100 == 0:
        dt = time.perf_counter() - t0
        print(f"step:{step}/{STEPS} train_loss:{loss.item():.4f} tok/s:{tok / dt:.0f} "
              f"active_mem:{mx.get_active_memory() / 2**20:.1f}MiB")

raw_val = eval_loss(model, val_ids)
model.update(tree_unflatten(list(ema_params.items())))
ema_val = eval_loss(model, val_ids)
print(f"final val_loss raw:{raw_val:.4f} ema:{ema_val:.4f} "
      f"peak_mem:{mx.get_peak_memory() / 2**20:.1f}MiB time:{time.perf_counter() - t0:.1f}s")
