# Tap-dance studio: next-sound model over procedurally generated step notation
# (toe 't', ball 'b', heel 'h', rest '/', bar line '|'), with a grouped-query
# decoder and a banded local causal mask. Warmup from lr 0, one warm restart, and a
# checkpoint/resume halfway through.
import os
import tempfile
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

STEPNOTE = {"shuffle": "tb", "flap": "tb", "ballchange": "bb", "cramproll": "bbhh",
            "stamp": "t", "paradiddle": "tbhh", "heeldrop": "h", "riff": "tbh", "wing": "bbt"}
ROUTINES = [["shuffle", "ballchange"], ["flap", "heeldrop", "stamp"], ["cramproll", "riff"],
            ["paradiddle", "paradiddle", "stamp"], ["wing", "shuffle", "heeldrop"], ["riff", "flap"],
            ["shuffle", "shuffle", "ballchange"], ["cramproll", "stamp"], ["wing", "wing", "riff"]]
STOI = {"<": 0, "t": 1, "b": 2, "h": 3, "/": 4, "|": 5}
VOCAB = len(STOI)
SEQ = 32
WINDOW = 12
DIM, QH, KVH, LAYERS = 32, 4, 2, 2
STEPS, HALF, WARMUP = 120, 60, 15


def message(rng):
    out = []
    while len(out) < SEQ + 1:
        r = ROUTINES[rng.integers(len(ROUTINES))]
        for step in r:
            out.extend(STEPNOTE[step])
            out.append("/")
        out[-1] = "|"
    return [STOI[c] for c in out[: SEQ + 1]]


def batch(rng, n):
    a = np.array([message(rng) for _ in range(n)])
    return mx.array(a[:, :-1]), mx.array(a[:, 1:])


def banded_mask(L, window):
    i = mx.arange(L)[:, None]
    j = mx.arange(L)[None, :]
    ok = (j <= i) & (j > i - window)
    return mx.where(ok, 0.0, -1e9).astype(mx.float32)


class GQAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.hd = DIM // QH
        self.q = nn.Linear(DIM, QH * self.hd, bias=False)
        self.kv = nn.Linear(DIM, 2 * KVH * self.hd, bias=False)
        self.o = nn.Linear(QH * self.hd, DIM, bias=False)
        self.rope = nn.RoPE(self.hd)

    def __call__(self, x, mask):
        B, L, _ = x.shape
        q = self.q(x).reshape(B, L, QH, self.hd).transpose(0, 2, 1, 3)
        k, v = mx.split(self.kv(x).reshape(B, L, 2 * KVH, self.hd).transpose(0, 2, 1, 3), 2, axis=1)
        q, k = self.rope(q), self.rope(k)
        y = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.hd ** -0.5, mask=mask)
        return self.o(y.transpose(0, 2, 1, 3).reshape(B, L, -1))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = nn.RMSNorm(DIM), nn.RMSNorm(DIM)
        self.attn = GQAttention()
        self.ff = nn.Sequential(nn.Linear(DIM, 3 * DIM), nn.SiLU(), nn.Linear(3 * DIM, DIM))

    def __call__(self, x, mask):
        x = x + self.attn(self.n1(x), mask)
        return x + self.ff(self.n2(x))


class TapModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.blocks = [Block() for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)

    def __call__(self, x):
        mask = banded_mask(x.shape[1], WINDOW)
        h = self.emb(x)
        for b in self.blocks:
            h = b(h, mask)
        return self.emb.as_linear(self.norm(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y).mean()


def schedule():
    warm = optim.linear_schedule(0.0, 4e-3, WARMUP)  # starts at exactly 0
    cos1 = optim.cosine_decay(4e-3, HALF - WARMUP, 2e-4)
    cos2 = optim.cosine_decay(2e-3, STEPS - HALF, 1e-4)  # warm restart at HALF
    return optim.join_schedules([warm, cos1, cos2], [WARMUP, HALF])


def run(model, opt, rng, start, stop, vx, vy, unigram_h):
    step_fn = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for step in range(start, stop):
        x, y = batch(rng, 24)
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        # quiet between 20 and 40: only the final line of that stretch is shown
        if step % 10 == 0 and not (20 <= step < 40):
            vl = loss_fn(model, vx, vy).item()
            print(f"step {step:4d} lr {opt.learning_rate.item():.5f} train {loss.item():.4f} "
                  f"val {vl:.4f} gain_vs_unigram {vl - unigram_h:+.4f} ({time.time() - t0:.1f}s)")


mx.random.seed(0)
rng = np.random.default_rng(0)
vx, vy = batch(np.random.default_rng(99), 256)
counts = np.bincount(np.array(vy).ravel(), minlength=VOCAB) + 1e-9
p = counts / counts.sum()
unigram_h = float(-(p * np.log(p)).sum())
print(f"unigram baseline entropy {unigram_h:.4f} nats (gain < 0 means better than baseline)")

model = TapModel()
opt = optim.Adam(learning_rate=schedule())
mx.eval(model.parameters())
run(model, opt, rng, 0, HALF, vx, vy, unigram_h)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "tap.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {HALF}; resuming in a fresh process-like state")

model = TapModel()
model.load_weights(os.path.join(ckpt, "tap.safetensors"))
opt = optim.Adam(learning_rate=schedule())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: optimizer step {opt.step.item()} val {loss_fn(model, vx, vy).item():.4f}")
run(model, opt, rng, HALF, STEPS, vx, vy, unigram_h)

pred = mx.argmax(model(vx), axis=-1)
acc = (pred == vy).astype(mx.float32).mean().item()
major = float(p.max())
print(f"final val {loss_fn(model, vx, vy).item():.4f} acc {acc:.3f} (majority-sound baseline {major:.3f})")
