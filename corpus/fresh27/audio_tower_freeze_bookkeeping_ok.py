# Two-phase run: "pretrain" a tiny audio-ish sequence classifier, then freeze the
# backbone and fine-tune low-rank adapters on a shifted task.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
T, D, C = 12, 16, 4


class RelativePositionBias(nn.Module):
    """Learned bias added to attention scores, indexed by (i - j)."""

    def __init__(self, max_len):
        super().__init__()
        self.max_len = max_len
        self.table = mx.zeros((2 * max_len - 1,))

    def __call__(self, n):
        idx = mx.arange(n)[:, None] - mx.arange(n)[None, :] + self.max_len - 1
        return self.table[idx]


class AudioBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        self.n1 = nn.LayerNorm(d)
        self.n2 = nn.LayerNorm(d)
        self._rel_pos = RelativePositionBias(T)

    def __call__(self, x):
        q, k, v = mx.split(self.qkv(self.n1(x)), 3, axis=-1)
        s = q @ k.swapaxes(-1, -2) / math.sqrt(x.shape[-1]) + self._rel_pos(x.shape[1])
        x = x + self.out(mx.softmax(s, axis=-1) @ v)
        return x + self.ff(self.n2(x))


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(3, D)
        self.blocks = [AudioBlock(D), AudioBlock(D)]
        self.head = nn.Linear(D, C)

    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h.mean(axis=1))


class LoRA(nn.Module):
    def __init__(self, base, r=4):
        super().__init__()
        self.base = base
        o, i = base.weight.shape
        self.a = mx.random.normal((i, r)) * (1 / math.sqrt(i))
        self.b = mx.zeros((r, o))

    def __call__(self, x):
        return self.base(x) + (x @ self.a) @ self.b * 2.0


def make_batch(n, shift):
    t = mx.arange(T)[None, :, None].astype(mx.float32)
    cls = mx.random.randint(0, C, (n,))
    freq = (cls.astype(mx.float32) + 1.0 + shift)[:, None, None] * 0.35
    sig = mx.sin(freq * t + mx.random.uniform(0, 6.28, (n, 1, 1)))
    x = mx.concatenate([sig, mx.cos(freq * t), mx.random.normal((n, T, 1)) * 0.3], axis=-1)
    return x, cls


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y).mean()


def acc(model, x, y):
    return (model(x).argmax(-1) == y).mean().item()


def run_phase(model, opt, steps, shift, tag):
    step = nn.value_and_grad(model, loss_fn)
    xv, yv = make_batch(256, shift)
    t0 = time.time()
    for i in range(1, steps + 1):
        x, y = make_batch(64, shift)
        loss, g = step(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if i % 50 == 0:
            print(json.dumps({"phase": tag, "step": i, "loss": round(loss.item(), 4),
                              "val_acc": round(acc(model, xv, yv), 3),
                              "sec": round(time.time() - t0, 1)}), flush=True)


model = Tower()
mx.eval(model.parameters())
run_phase(model, optim.Adam(learning_rate=3e-3), 200, 0.0, "pretrain")

# adapter fine-tune on the shifted task: freeze everything, then wrap the linears
model.freeze()
for b in model.blocks:
    b.qkv = LoRA(b.qkv)
    b.out = LoRA(b.out)
model.head.unfreeze()
from mlx.utils import tree_flatten
print(json.dumps({"trainable": sum(v.size for _, v in tree_flatten(model.trainable_parameters()))}))
run_phase(model, optim.AdamW(learning_rate=2e-3, weight_decay=0.0), 200, 0.5, "adapt")
print("done")
