"""Sea-shanty verse model: a next-note predictor over a 10-note scale.

Stage 1 pre-trains a small MLP on 'harbour' tunes (one Markov chain over 3-note
contexts). Stage 2 adapts it to 'whaling' tunes (a different chain) with LoRA
adapters on the two hidden layers while the base stays frozen; the adapter learning
rate warms up linearly from exactly 0 over the first 60% of stage 2 to a small peak.
Losses are printed in bits per note beside the entropy floor of the target chain.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

V, CTX = 10, 3
rng = np.random.default_rng(11)
mx.random.seed(11)


def make_chain(seed, sharp):
    r = np.random.default_rng(seed)
    logits = sharp * r.normal(size=(V ** CTX, V))
    p = np.exp(logits - logits.max(1, keepdims=True))
    return p / p.sum(1, keepdims=True)


def sample(chain, n_tunes, length=40):
    seqs = np.zeros((n_tunes, length), dtype=np.int32)
    seqs[:, :CTX] = rng.integers(0, V, size=(n_tunes, CTX))
    for t in range(CTX, length):
        ctx = seqs[:, t - 3] * 100 + seqs[:, t - 2] * 10 + seqs[:, t - 1]
        u = rng.random(n_tunes)[:, None]
        seqs[:, t] = (chain[ctx].cumsum(1) < u).sum(1).clip(0, V - 1)
    x = np.stack([seqs[:, i:i + CTX] for i in range(length - CTX)], 1).reshape(-1, CTX)
    y = seqs[:, CTX:].reshape(-1)
    return mx.array(x), mx.array(y)


def chain_entropy_bits(chain, x):
    ctx = np.array(x[:, 0] * 100 + x[:, 1] * 10 + x[:, 2])
    p = chain[ctx]
    return float(-(p * np.log2(p + 1e-12)).sum(1).mean())


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=4, scale=2.0):
        super().__init__()
        self.base = base
        d_out, d_in = base.weight.shape
        self.lora_a = mx.random.normal((d_in, rank)) * (1.0 / math.sqrt(d_in))
        self.lora_b = mx.zeros((rank, d_out))
        self.scale = scale

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class NoteNet(nn.Module):
    def __init__(self, dim=16, hidden=128):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.h1 = nn.Linear(CTX * dim, hidden)
        self.h2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, V)

    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        return self.out(nn.gelu(self.h2(nn.gelu(self.h1(e)))))


def bits(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean") / math.log(2)


harbour = make_chain(1, 2.0)
whaling = 0.3 * harbour + 0.7 * make_chain(2, 2.0)
hx, hy = sample(harbour, 600)
wx, wy = sample(whaling, 300)
wvx, wvy = sample(whaling, 300)
floor_w = chain_entropy_bits(whaling, np.array(wvx))

model = NoteNet()
mx.eval(model.parameters())
pre_opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, bits)
t0 = time.time()
print("stage 1 | harbour tunes | %d note events" % hx.shape[0])
for step in range(1, 401):
    idx = mx.array(rng.integers(0, hx.shape[0], size=256))
    loss, g = vg(model, hx[idx], hy[idx])
    pre_opt.update(model, g)
    mx.eval(model.parameters(), pre_opt.state, loss)
    if step % 200 == 0:
        print("  step %4d  harbour bits/note %.3f  whaling held-out %.3f  (%.1fs)" % (
            step, loss.item(), bits(model, wvx, wvy).item(), time.time() - t0))

model.freeze()
model.h1 = LoRALinear(model.h1)
model.h2 = LoRALinear(model.h2)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
base_before = np.array(model.out.weight)

STEPS2, WARM = 600, 360
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, WARM), lambda s: mx.array(3e-3)], [WARM])
opt = optim.Adam(learning_rate=sched)
vg2 = nn.value_and_grad(model, bits)
start_bits = bits(model, wvx, wvy).item()
print("stage 2 | whaling tunes | %d note events | adapters %d of %d parameters train" % (wx.shape[0], n_train, n_all))
print("  entropy floor of whaling chain %.3f bits/note | pre-trained model starts at %.3f" % (floor_w, start_bits))
print("  %5s  %9s  %9s  %9s  %6s" % ("step", "lr", "batch", "held_out", "secs"))
for step in range(1, STEPS2 + 1):
    idx = mx.array(rng.integers(0, wx.shape[0], size=128))
    loss, g = vg2(model, wx[idx], wy[idx])
    opt.update(model, g)
    mx.eval(model.trainable_parameters(), opt.state, loss)
    if step == 1 or step % 40 == 0:
        print("  %5d  %9.2e  %9.3f  %9.3f  %6.1f" % (
            step, float(sched(mx.array(step - 1))), loss.item(), bits(model, wvx, wvy).item(), time.time() - t0))
drift = float(np.abs(np.array(model.out.weight) - base_before).max())
print("done | held-out %.3f bits/note (start %.3f, floor %.3f) | frozen head drift %.1e" % (
    bits(model, wvx, wvy).item(), start_bits, floor_w, drift))
