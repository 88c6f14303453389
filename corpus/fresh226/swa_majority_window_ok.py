# Tiny sliding-window attention model: predict the majority bit of the last W tokens.
# Training uses a batched causal+window mask; at the end we check the streaming path
# (rolling cache of W keys, as used at generation time) against the batched forward.
import math
import time
from collections import deque

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

W = 5          # sliding window size (keys each query may see, itself included)
L = 24         # sequence length
D = 16
BATCH = 64
STEPS = 400


def create_causal_mask(N, offset=0, window_size=None):
    rinds = mx.arange(offset + N)
    linds = mx.arange(offset, offset + N) if offset else rinds
    linds = linds[:, None]
    rinds = rinds[None]
    mask = linds >= rinds
    if window_size is not None:
        mask = mask & (linds < rinds + window_size)
    return mask


class WindowAttn(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.embed = nn.Embedding(2, dims)
        self.q = nn.Linear(dims, dims, bias=False)
        self.k = nn.Linear(dims, dims, bias=False)
        self.v = nn.Linear(dims, dims, bias=False)
        self.head = nn.Sequential(nn.Linear(dims, 32), nn.GELU(), nn.Linear(32, 2))
        self.scale = dims ** -0.5

    def attend(self, q, k, v, mask):
        s = (q @ k.swapaxes(-1, -2)) * self.scale
        if mask is not None:
            s = mx.where(mask, s, mx.array(-1e9, s.dtype))
        return mx.softmax(s, axis=-1) @ v

    def __call__(self, x):
        h = self.embed(x)
        mask = create_causal_mask(x.shape[1], window_size=W)
        a = self.attend(self.q(h), self.k(h), self.v(h), mask)
        return self.head(a)

    def stream(self, seq):
        # token-by-token with a rotating cache holding the last W keys/values
        ks, vs, outs = deque(maxlen=W), deque(maxlen=W), []
        for tok in seq:
            h = self.embed(mx.array([tok]))
            ks.append(self.k(h)[0])
            vs.append(self.v(h)[0])
            a = self.attend(self.q(h), mx.stack(list(ks)), mx.stack(list(vs)), None)
            outs.append(self.head(a)[0])
        return mx.stack(outs)


def make_batch(n):
    x = (mx.random.uniform(shape=(n, L)) < 0.5).astype(mx.int32)
    c = mx.cumsum(x, axis=1)
    prev = mx.concatenate([mx.zeros((n, W), mx.int32), c[:, :-W]], axis=1)
    ones = c - prev                       # ones among x[t-W+1 .. t]
    y = (2 * ones > W).astype(mx.int32)
    return x, y


def loss_fn(model, x, y):
    logits = model(x)[:, W:]
    return nn.losses.cross_entropy(logits, y[:, W:], reduction="mean")


mx.random.seed(3)
model = WindowAttn(D)
opt = optim.Adam(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())

t0 = time.time()
for step in range(1, STEPS + 1):
    x, y = make_batch(BATCH)
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 50 == 0:
        xv, yv = make_batch(256)
        pred = mx.argmax(model(xv)[:, W:], axis=-1)
        acc = (pred == yv[:, W:]).mean().item()
        print(f"step {step:4d}  loss {loss.item():.4f}  window-acc {acc*100:5.1f}%  ({time.time()-t0:.1f}s)")

# streaming parity check on a few held-out sequences
xv, yv = make_batch(8)
batched = model(xv)
worst, s_hits, b_hits, n = 0.0, 0, 0, 0
for i in range(8):
    seq = [int(t) for t in xv[i].tolist()]
    st = model.stream(seq)
    worst = max(worst, mx.abs(st - batched[i]).max().item())
    s_hits += (mx.argmax(st[W:], -1) == yv[i, W:]).sum().item()
    b_hits += (mx.argmax(batched[i, W:], -1) == yv[i, W:]).sum().item()
    n += L - W
print(f"parity: max|stream - batched| logit diff = {worst:.2e}")
print(f"batched acc {b_hits/n*100:.1f}%   streaming acc {s_hits/n*100:.1f}%")
print("done")
