# Foghorn station look-up: embed variable-length horn signal codes so that two
# recordings of the same station land close together (alignment + uniformity loss).
import math, random
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(3); np.random.seed(3); mx.random.seed(3)
VOCAB, PAD, MAXLEN, N_STATIONS = 12, 0, 20, 64

def station_code(rng):
    n = rng.integers(4, 11)
    return rng.integers(1, VOCAB, size=n)

rng = np.random.default_rng(3)
CODES = [station_code(rng) for _ in range(N_STATIONS)]

def recording(code):
    toks = [t for t in code if rng.random() > 0.12]           # dropped blasts
    toks = [t if rng.random() > 0.1 else rng.integers(1, VOCAB) for t in toks]
    if rng.random() < 0.5:
        toks = toks + list(rng.integers(1, VOCAB, size=rng.integers(1, 4)))  # echo
    toks = toks[:MAXLEN] or [int(code[0])]
    return toks

def pad(batch):
    arr = np.full((len(batch), MAXLEN), PAD, dtype=np.int32)
    for i, t in enumerate(batch):
        arr[i, :len(t)] = t
    return mx.array(arr)

class Encoder(nn.Module):
    def __init__(self, d=48):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, d)
        self.pos = nn.Embedding(MAXLEN, d)
        self.att = nn.MultiHeadAttention(d, 4)
        self.ln = nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, 96), nn.GELU(), nn.Linear(96, d))
        self.out = nn.Linear(d, 24)

    def __call__(self, x):
        keep = (x != PAD)
        h = self.tok(x) + self.pos(mx.arange(x.shape[1]))
        bias = mx.where(keep[:, None, None, :], 0.0, -1e9)
        h = h + self.att(h, h, h, mask=bias)
        h = h + self.ff(self.ln(h))
        w = keep[..., None].astype(h.dtype)
        pooled = (h * w).sum(axis=1) / mx.maximum(w.sum(axis=1), 1.0)
        z = self.out(pooled)
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)

def align_uniform(model, a, b):
    za, zb = model(a), model(b)
    align = ((za - zb) ** 2).sum(-1).mean()
    sq = ((za[:, None, :] - za[None, :, :]) ** 2).sum(-1)
    n = za.shape[0]
    off = 1.0 - mx.eye(n)
    unif = mx.log((mx.exp(-2.0 * sq) * off).sum() / (n * (n - 1)))
    return align + unif, (align, unif)

def recall_at_1(model):
    q = pad([recording(c) for c in CODES])
    k = pad([recording(c) for c in CODES])
    sims = model(q) @ model(k).T
    return (mx.argmax(sims, axis=1) == mx.arange(N_STATIONS)).astype(mx.float32).mean().item()

model = Encoder()
mx.eval(model.parameters())
STEPS, WARM, B = 180, 30, 48
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
step_fn = nn.value_and_grad(model, align_uniform)

print(f"stations={N_STATIONS} chance_recall@1={1.0/N_STATIONS:.3f}")
print(f"init recall@1={recall_at_1(model):.3f}")
for step in range(1, STEPS + 1):
    ids = rng.choice(N_STATIONS, size=B, replace=False) if B <= N_STATIONS else None
    a = pad([recording(CODES[i]) for i in ids])
    b = pad([recording(CODES[i]) for i in ids])
    (loss, (al, un)), grads = step_fn(model, a, b)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 20 == 0 or step == 1:
        lr = sched(opt.step - 1).item() if step > 1 else 0.0
        print(f"step {step:4d} lr {lr:.2e} loss {loss.item():+.4f} align {al.item():.4f} uniform {un.item():+.4f}")
    if step % 60 == 0:
        print(f"  eval recall@1={recall_at_1(model):.3f} (chance {1.0/N_STATIONS:.3f})")
print(f"final recall@1={recall_at_1(model):.3f}")
