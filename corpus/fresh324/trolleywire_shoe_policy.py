"""Trolleybus overhead wire: which current-collector condition does a 48-sample
collector-current trace show?  (good contact / worn carbon insert / wire ice /
loose hanger / crossing frog bump / dewirement risk)

Tiny attention classifier trained under a per-module precision policy:
float32 master weights, matmuls in float16, norms/softmax/loss in float32,
static loss scale.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

T = 32
CLASSES = ["good", "worn_insert", "wire_ice", "loose_hanger", "frog_bump", "dewire_risk"]
LABEL_FLIP = 0.05


def make_traces(n, rng):
    y = rng.integers(0, len(CLASSES), size=n)
    t = np.arange(T, dtype=np.float32)
    x = np.zeros((n, T), dtype=np.float32)
    for i in range(n):
        base = rng.uniform(0.6, 1.4)
        phase = rng.uniform(0, 2 * math.pi)
        sig = base + 0.05 * np.sin(2 * math.pi * t / rng.uniform(18, 30) + phase)
        c = y[i]
        if c == 1:
            sig = sig + rng.uniform(0.10, 0.25) * rng.standard_normal(T)
        elif c == 2:
            for s in rng.integers(0, T, size=rng.integers(3, 6)):
                sig[s] *= rng.uniform(0.0, 0.3)
        elif c == 3:
            per = rng.integers(7, 11)
            off = rng.integers(0, per)
            sig = sig - 0.35 * (((t + off) % per) < 2)
        elif c == 4:
            s = rng.integers(8, T - 8)
            sig[s:s + 3] += rng.uniform(0.6, 1.0)
        elif c == 5:
            s = rng.integers(10, T - 12)
            sig[s:] = sig[s:] * np.linspace(1.0, 0.1, T - s)
        sig = sig + 0.06 * rng.standard_normal(T)
        x[i] = sig
    flip = rng.random(n) < LABEL_FLIP
    y = np.where(flip, rng.integers(0, len(CLASSES), size=n), y)
    feats = np.stack([x, np.diff(x, prepend=x[:, :1], axis=1)], axis=-1)
    return feats.astype(np.float32), y.astype(np.int32)


POLICY = {"norm": mx.float32, "*": mx.float16}


def compute_dtype(path):
    return POLICY["norm"] if "norm" in path else POLICY["*"]


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.norm1 = nn.RMSNorm(d)
        self.attn = nn.MultiHeadAttention(d, heads)
        self.norm2 = nn.RMSNorm(d)
        self.ff1 = nn.Linear(d, 2 * d)
        self.ff2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        lo = h.dtype
        a = self.norm1(h.astype(mx.float32)).astype(lo)
        h = h + self.attn(a, a, a)
        f = self.norm2(h.astype(mx.float32)).astype(lo)
        return h + self.ff2(nn.gelu(self.ff1(f)))


class Net(nn.Module):
    def __init__(self, d=24, heads=4, n_cls=6):
        super().__init__()
        self.inp = nn.Linear(2, d)
        self.pos = nn.Embedding(T, d)
        self.block = Block(d, heads)
        self.norm_out = nn.RMSNorm(d)
        self.head = nn.Linear(d, n_cls)

    def __call__(self, x):
        w = self.inp.weight.dtype
        h = self.inp(x.astype(w)) + self.pos(mx.arange(T))
        h = self.block(h)
        h = self.norm_out(h.astype(mx.float32)).astype(w)
        return self.head(h.mean(axis=1)).astype(mx.float32)


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_traces(2400, rng)
    xva, yva = make_traces(800, rng)
    Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))
    majority = np.bincount(yva).max() / len(yva)
    ceiling = 1 - LABEL_FLIP * (1 - 1 / len(CLASSES))

    master = Net()
    work = Net()
    mx.eval(master.parameters())

    print("precision policy (module path -> compute dtype):")
    for k, v in tree_flatten(master.parameters()):
        print(f"  {k:<24s} master={v.dtype}  compute={compute_dtype(k)}")

    LOSS_SCALE = 512.0

    def loss_fn(params, xb, yb):
        work.update(tree_map_with_path(lambda p, v: v.astype(compute_dtype(p)), params))
        logits = work(xb)
        ce = nn.losses.cross_entropy(logits, yb, reduction="mean")
        return ce * LOSS_SCALE, ce

    vg = mx.value_and_grad(loss_fn, argnums=0)

    epochs, bs = 6, 50
    steps_per_epoch = len(ytr) // bs
    total = epochs * steps_per_epoch
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, total - warm, 2e-5)],
        [warm],
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)

    def evaluate():
        work.update(tree_map_with_path(lambda p, v: v.astype(compute_dtype(p)), master.parameters()))
        logits = work(Xva)
        ce = nn.losses.cross_entropy(logits, Yva, reduction="mean")
        acc = (mx.argmax(logits, axis=1) == Yva).astype(mx.float32).mean()
        return ce.item() / math.log(2), acc.item() * 100

    ce0, acc0 = evaluate()
    print(f"untrained: val {ce0:.3f} bits/trace, acc {acc0:.1f}% "
          f"(majority {majority*100:.1f}%, label-noise ceiling {ceiling*100:.1f}%)")

    overflow_steps = 0
    step = 0
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = mx.array(perm[b * bs:(b + 1) * bs])
            (_, ce), g = vg(master.trainable_parameters(), Xtr[idx], Ytr[idx])
            g = tree_map_with_path(lambda p, v: v.astype(mx.float32) / LOSS_SCALE, g)
            finite = mx.all(mx.array([mx.isfinite(v).all() for _, v in tree_flatten(g)]))
            if not finite.item():
                overflow_steps += 1
                step += 1
                continue
            g, gnorm = optim.clip_grad_norm(g, 1.0)
            lr_now = opt.learning_rate.item()
            opt.update(master, g)
            mx.eval(master.parameters(), opt.state, ce)
            run += ce.item()
            step += 1
            if step == 1:
                dts = sorted({str(v.dtype) for _, v in tree_flatten(g)})
                print(f"first step: grad dtypes {dts}, grad norm {gnorm.item():.3f}, "
                      f"lr applied {lr_now:.1e}")
        vce, vacc = evaluate()
        print(f"epoch {ep:2d} | lr {opt.learning_rate.item():.2e} | train {run/steps_per_epoch/math.log(2):.3f} bits"
              f" | val {vce:.3f} bits | val acc {vacc:5.1f}% | non-finite steps {overflow_steps}"
              f" | {time.time()-t0:5.1f}s")
    dtypes = sorted({str(v.dtype) for _, v in tree_flatten(master.parameters())})
    print(f"done: master weights {dtypes}, final val acc {vacc:.1f}% "
          f"(majority {majority*100:.1f}%, ceiling {ceiling*100:.1f}%)")


if __name__ == "__main__":
    main()
