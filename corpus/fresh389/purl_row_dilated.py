import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3)
mx.random.seed(3)
V, T, B = 12, 48, 16
P = rng.dirichlet(np.full(V, 0.3), size=V)
pi = np.ones(V) / V
for _ in range(200):
    pi = pi @ P
H_floor = -np.sum(pi[:, None] * P * np.log2(P + 1e-300))
H_unigram = -np.sum(pi * np.log2(pi))

def stitches(n):
    out = np.empty((n, T + 1), np.int32)
    s = rng.choice(V, n, p=pi)
    out[:, 0] = s
    cum = P.cumsum(1)
    for t in range(1, T + 1):
        u = rng.random(n)[:, None]
        s = np.minimum((u > cum[s]).sum(1), V - 1)
        out[:, t] = s
    return out

class CausalConv(nn.Module):
    def __init__(self, c, d):
        super().__init__()
        self.d = d
        self.tap = nn.Linear(2 * c, 2 * c)
    def __call__(self, x):
        past = mx.pad(x, [(0, 0), (self.d, 0), (0, 0)])[:, : x.shape[1]]
        h = self.tap(mx.concatenate([past, x], axis=-1))
        a, b = mx.split(h, 2, axis=-1)
        return x + mx.tanh(a) * mx.sigmoid(b)

class PurlNet(nn.Module):
    def __init__(self, c=48):
        super().__init__()
        self.emb = nn.Embedding(V, c)
        self.blocks = [CausalConv(c, d) for d in (1, 2, 4, 1)]
        self.head = nn.Linear(c, V)
    def __call__(self, x):
        h = self.emb(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)

def loss_fn(model, seq):
    return nn.losses.cross_entropy(model(seq[:, :-1]), seq[:, 1:], reduction="mean")

model = PurlNet()
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
bytes_params = sum(v.nbytes for _, v in tree_flatten(model.parameters()))
STEPS = 300
sched = optim.step_decay(0.3, 0.2, 150)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
state = [model.state, opt.state]

def step(seq):
    loss, g = nn.value_and_grad(model, loss_fn)(model, seq)
    opt.update(model, g)
    return loss
step = mx.compile(step, inputs=state, outputs=state)

CORPUS = stitches(4096)
val = mx.array(stitches(256))
LN2 = np.log(2)
print(f"pattern corpus: vocab {V}, window {T}, batch {B} -> {B*T} tokens/step")
print(f"model: {n_params} params = {bytes_params/2**20:.3f} MB fp32, momentum buffers another {bytes_params/2**20:.3f} MB")
print(f"reference: unigram {H_unigram:.3f} bits/stitch, source entropy floor {H_floor:.3f} bits/stitch")
t0 = time.perf_counter(); tok = 0; win = []
for it in range(1, STEPS + 1):
    loss = step(mx.array(CORPUS[rng.integers(0, len(CORPUS), B)]))
    mx.eval(loss, state)
    tok += B * T
    win.append(loss.item() / LN2)
    if it % 50 == 0:
        el = time.perf_counter() - t0
        vb = loss_fn(model, val).item() / LN2
        print(f"step {it:4d}/{STEPS} ({100*it/STEPS:5.1f}%) | lr {float(sched(mx.array(it-1))):.3f} | train {np.mean(win):.3f} bits | val {vb:.3f} bits "
              f"(floor +{vb-H_floor:.3f}) | {tok/el:8.0f} tok/s | {el/it*1e3:6.2f} ms/step | {tok/1e6:.2f} M tokens seen | peak {mx.get_peak_memory()/2**20:.1f} MB")
        win = []
print(f"done in {time.perf_counter()-t0:.1f} s; final val gap to entropy floor {vb-H_floor:.3f} bits/stitch")
