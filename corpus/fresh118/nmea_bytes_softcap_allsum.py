"""Byte-level model of weather-buoy NMEA sentences, loss in bits per byte.

- data: synthetic $WIMWV / $WIMTA / $WIXDR sentences with real NMEA checksums (stdlib)
- model: 10-byte context -> embedding -> MLP -> 256 logits, logits soft-capped by
  cap*tanh(z/cap) written as an mx.custom_function with its own VJP
- gradients averaged across the data-parallel group with mx.distributed.all_sum
  (this job runs as a single process, so the group has size 1)
- update: hand-written RMSprop with momentum over tree_flatten / tree_unflatten,
  with a linear learning-rate warm-up that starts at exactly 0
- output: one JSON object per line
"""
import json
import math
import random
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map, tree_unflatten

CTX = 10
CAP = 15.0
STEPS = 1500
BATCH = 64
LR = 3e-4
WARMUP = 200
EVERY = 300


def nmea(body):
    cs = 0
    for ch in body:
        cs ^= ord(ch)
    return f"${body}*{cs:02X}\r\n"


def make_log(n, seed):
    r = random.Random(seed)
    out = []
    for _ in range(n):
        kind = r.random()
        if kind < 0.5:
            body = f"WIMWV,{r.randint(0, 359):03d},R,{r.uniform(0, 30):.1f},N,A"
        elif kind < 0.8:
            body = f"WIMTA,{r.gauss(14, 5):.1f},C"
        else:
            body = f"WIXDR,P,{r.uniform(0.98, 1.04):.4f},B,BARO"
        out.append(nmea(body))
    return "".join(out).encode("ascii")


def windows(buf):
    a = np.frombuffer(buf, dtype=np.uint8).astype(np.int32)
    idx = np.arange(CTX)[None, :] + np.arange(len(a) - CTX)[:, None]
    return a[idx], a[CTX:]


@mx.custom_function
def softcap(z):
    return CAP * mx.tanh(z / CAP)


@softcap.vjp
def softcap_vjp(primals, cotangent, output):
    z = primals  # a single input arrives as the array itself
    t = mx.tanh(z / CAP)
    return cotangent * (1.0 - t * t)


class ByteMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(256, 16)
        self.h1 = nn.Linear(CTX * 16, 128)
        self.h2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 256)

    def __call__(self, ctx):
        e = self.emb(ctx).reshape(ctx.shape[0], -1)
        h = nn.gelu(self.h1(e))
        h = nn.gelu(self.h2(h))
        return softcap(self.out(h))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bits(nats):
    return nats / math.log(2.0)


def evaluate(model, x, y, chunk=2048):
    tot, n = 0.0, 0
    for i in range(0, len(y), chunk):
        l = nn.losses.cross_entropy(model(mx.array(x[i:i + chunk])), mx.array(y[i:i + chunk]),
                                    reduction="sum")
        tot += l.item(); n += len(y[i:i + chunk])
    return bits(tot / n)


class RMSMomentum:
    def __init__(self, params, rho=0.95, mom=0.9, eps=1e-8):
        self.rho, self.mom, self.eps = rho, mom, eps
        flat = tree_flatten(params)
        self.sq = {k: mx.zeros_like(v) for k, v in flat}
        self.buf = {k: mx.zeros_like(v) for k, v in flat}

    def step(self, params, grads, lr):
        g = dict(tree_flatten(grads))
        new = []
        for k, p in tree_flatten(params):
            self.sq[k] = self.rho * self.sq[k] + (1 - self.rho) * g[k] * g[k]
            self.buf[k] = self.mom * self.buf[k] + g[k] / (mx.sqrt(self.sq[k]) + self.eps)
            new.append((k, p - lr * self.buf[k]))
        return tree_unflatten(new)

    def state(self):
        return [self.sq, self.buf]


def main():
    t0 = time.time()
    group = mx.distributed.init()
    world = group.size()
    tr_x, tr_y = windows(make_log(2000, seed=1 + group.rank()))
    va_x, va_y = windows(make_log(150, seed=999))
    emit = lambda **kw: print(json.dumps(kw), flush=True)
    emit(event="data", rank=group.rank(), world=world, train_windows=len(tr_y), val_windows=len(va_y))

    # custom VJP vs autodiff of the same expression
    z = mx.random.normal((64,)) * 30
    g_custom = mx.grad(lambda v: softcap(v).sum())(z)
    g_auto = mx.grad(lambda v: (CAP * mx.tanh(v / CAP)).sum())(z)
    emit(event="vjp_check", max_abs_err=float(mx.abs(g_custom - g_auto).max()))

    mx.random.seed(0)
    model = ByteMLP()
    mx.eval(model.parameters())
    opt = RMSMomentum(model.trainable_parameters())
    vg = nn.value_and_grad(model, loss_fn)
    emit(event="start", val_bpb=round(evaluate(model, va_x, va_y), 4), uniform_bpb=8.0)

    rng = np.random.default_rng(0)
    run = []
    for step in range(STEPS):
        idx = rng.integers(0, len(tr_y), size=BATCH)
        loss, grads = vg(model, mx.array(tr_x[idx]), mx.array(tr_y[idx]))
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
        if step == 0:
            flat = tree_flatten(grads)
            emit(event="grad_check", leaves=len(flat),
                 zero_leaves=[k for k, v in flat if float(mx.abs(v).max()) == 0.0])
        lr = LR * min(1.0, step / WARMUP)
        model.update(opt.step(model.trainable_parameters(), grads, lr))
        mx.eval(model.parameters(), opt.state(), loss)
        run.append(loss.item())
        if (step + 1) % EVERY == 0:
            emit(event="report", step=step + 1, lr=lr,
                 train_bpb=round(bits(float(np.mean(run))), 4),
                 val_bpb=round(evaluate(model, va_x, va_y), 4),
                 secs=round(time.time() - t0, 1))
            run = []
    emit(event="done", val_bpb=round(evaluate(model, va_x, va_y), 4), secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
