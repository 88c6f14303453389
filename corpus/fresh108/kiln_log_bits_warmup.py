# Character model of pottery-kiln firing logs (a made-up order-2 Markov
# source over a 12-symbol alphabet).  Reports bits per character against the
# source's true entropy rate.  LR warms up from exactly 0; the step is
# compiled with model/optimizer state; the temperature of the softmax goes
# through a custom_function (softplus with a hand-written vjp).
from functools import partial
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

ALPHA = list("0123456789C;")
V = len(ALPHA)
CTX = 6
rs = np.random.default_rng(3)
logits_src = rs.normal(0, 2.2, (V, V, V))
P = np.exp(logits_src) / np.exp(logits_src).sum(-1, keepdims=True)


def sample_stream(n):
    out = np.zeros(n, dtype=np.int64)
    out[:2] = rs.integers(0, V, 2)
    u = rs.random(n)
    cdf = P.cumsum(-1)
    for t in range(2, n):
        out[t] = min(np.searchsorted(cdf[out[t - 2], out[t - 1]], u[t]), V - 1)
    return out


def entropy_rate_bits(stream):
    # empirical stationary pair frequencies x exact conditional entropies
    pairs = np.zeros((V, V))
    np.add.at(pairs, (stream[:-1], stream[1:]), 1)
    pairs /= pairs.sum()
    h = -(P * np.log2(P)).sum(-1)
    return float((pairs * h).sum())


train = sample_stream(120_000)
valid = sample_stream(20_000)
H = entropy_rate_bits(valid)


def windows(stream, idx):
    x = np.stack([stream[i:i + CTX] for i in idx])
    return mx.array(x), mx.array(stream[idx + CTX])


@mx.custom_function
def softplus_t(a):
    return mx.logaddexp(a, mx.zeros_like(a))


@softplus_t.vjp
def softplus_t_vjp(primals, cotangent, output):
    (a,) = primals
    return (cotangent * mx.sigmoid(a),)


class KilnLM(nn.Module):
    def __init__(self, d=24, hidden=96):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.fc1 = nn.Linear(CTX * d, hidden)
        self.fc2 = nn.Linear(hidden, V)
        self.temp_raw = mx.array([0.5])

    def __call__(self, x):
        h = self.emb(x).reshape(x.shape[0], -1)
        z = self.fc2(nn.relu(self.fc1(h)))
        return z * softplus_t(self.temp_raw)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(0)
model = KilnLM()
mx.eval(model.parameters())
STEPS, WARM = 2500, 300
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)],
    [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
state = [model.state, opt.state]
grad_fn = nn.value_and_grad(model, xent)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = grad_fn(model, x, y)
    opt.update(model, grads)
    return loss


def bits(stream, n=8000):
    idx = np.arange(0, n)
    x, y = windows(stream, idx)
    return xent(model, x, y).item() / math.log(2)


print(f"alphabet {V} symbols, context {CTX}, train {len(train)} chars, "
      f"source entropy rate {H:.3f} bits/char, uniform {math.log2(V):.3f}")
x0, y0 = windows(train, rs.integers(0, len(train) - CTX - 1, 128))
_, g0 = grad_fn(model, x0, y0)
flat = tree_flatten(g0)
print(f"first batch: {len(flat)} gradient leaves, zero: "
      f"{[k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]}")
print(f"step     0  lr 0.00000  valid {bits(valid):.3f} bits/char")
t0, run = time.time(), []
for step in range(1, STEPS + 1):
    x, y = windows(train, rs.integers(0, len(train) - CTX - 1, 128))
    lr_now = sched(opt.step).item()
    loss = train_step(x, y)
    mx.eval(state, loss)
    run.append(loss.item())
    if step in (1, 100) or step % 500 == 0:
        print(f"step {step:5d}  lr {lr_now:.5f}  train {np.mean(run) / math.log(2):.3f}"
              f"  valid {bits(valid):.3f} bits/char  gap {bits(valid) - H:+.3f}"
              f"  temp {softplus_t(model.temp_raw).item():.3f}  {time.time() - t0:.1f}s")
        run = []
print(f"done: valid {bits(valid):.3f} bits/char vs entropy rate {H:.3f}")
