"""Pipe-organ voicing: tell the stop family of a pipe (principal, flute, reed,
string) from the dB levels of its first 16 harmonics, measured in a noisy
church.  Plain-function MLP over a dict of weights, a custom soft-clip
activation with its own VJP, a hand-written RMSprop over tree_flatten, a
compiled step with its state passed through inputs=/outputs=, and gradients
averaged with mx.distributed.all_sum (one process here, same code on many).
Before the real run a learning-rate range test sweeps lr upward (its loss blows
up at the end on purpose); the real run then starts from fresh weights.
Every report is one JSON line; losses are in bits per pipe.
"""
import json
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_unflatten

FAMILIES = ["principal", "flute", "reed", "string"]
LN2 = math.log(2.0)


def voice_pipes(n, rng):
    fam = rng.integers(0, 4, n)
    k = np.arange(1, 17)[None, :].astype(np.float64)
    slope = np.array([6.0, 12.0, 3.0, 4.5])[fam][:, None]       # dB per octave roll-off
    odd_boost = np.array([0.0, 8.0, 1.0, -1.0])[fam][:, None]    # stopped flutes: odd harmonics
    formant = np.array([0.0, 0.0, 9.0, 5.0])[fam][:, None]       # reeds / strings: a bump
    centre = np.array([1.0, 1.0, 7.0, 11.0])[fam][:, None] * rng.uniform(0.8, 1.25, (n, 1))
    db = (-slope * np.log2(k) + odd_boost * (k % 2) * (k > 1)
          + formant * np.exp(-0.5 * ((k - centre) / 2.0) ** 2))
    db = db + rng.normal(0, 4.0, db.shape) + rng.uniform(-6, 6, (n, 1))  # room + mic gain
    return db.astype(np.float32), fam.astype(np.int32)


@mx.custom_function
def softclip(x):
    return 3.0 * mx.tanh(x / 3.0)


@softclip.vjp
def softclip_vjp(x, cotangent, output):
    t = output / 3.0
    return cotangent * (1.0 - t * t)


def init_params(key, sizes=(16, 64, 64, 4)):
    params = {}
    keys = mx.random.split(key, len(sizes) - 1)
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        params[f"w{i}"] = mx.random.normal((a, b), key=keys[i]) * math.sqrt(2.0 / a)
        params[f"b{i}"] = mx.zeros((b,))
    return params


def forward(params, x):
    h = softclip(x @ params["w0"] + params["b0"])
    h = softclip(h @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


def ce_nats(params, x, y):
    logits = forward(params, x)
    return (mx.logsumexp(logits, axis=-1)
            - mx.take_along_axis(logits, y[:, None], axis=-1)[:, 0]).mean()


class RMSprop:
    def __init__(self, decay=0.95, eps=1e-8):
        self.decay, self.eps = decay, eps

    def init(self, params):
        return {k: mx.zeros_like(v) for k, v in tree_flatten(params)}

    def apply(self, params, grads, state, lr):
        flat_p, flat_g = dict(tree_flatten(params)), dict(tree_flatten(grads))
        new_p, new_s = [], {}
        for k, p in flat_p.items():
            g = flat_g[k]
            s = self.decay * state[k] + (1 - self.decay) * g * g
            new_s[k] = s
            new_p.append((k, p - lr * g / (mx.sqrt(s) + self.eps)))
        return tree_unflatten(new_p), new_s


GROUP = mx.distributed.init()
opt = RMSprop()
grad_fn = mx.value_and_grad(ce_nats)


def make_step(holder):
    @partial(mx.compile, inputs=holder, outputs=holder)
    def step(x, y, lr):
        params, state = holder["params"], holder["rms"]
        loss, grads = grad_fn(params, x, y)
        grads = {k: mx.distributed.all_sum(g, group=GROUP) / GROUP.size()
                 for k, g in grads.items()}
        holder["params"], holder["rms"] = opt.apply(params, grads, state, lr)
        return loss
    return step


def accuracy_and_bits(params, x, y):
    logits = forward(params, x)
    acc = (mx.argmax(logits, axis=-1) == y).astype(mx.float32).mean()
    bits = ce_nats(params, x, y) / LN2
    mx.eval(acc, bits)
    return acc.item(), bits.item()


def emit(**rec):
    print(json.dumps(rec, sort_keys=False))


def main():
    t0 = time.time()
    rng = np.random.default_rng(8)
    xtr, ytr = voice_pipes(30000, rng)
    xva, yva = voice_pipes(4000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
    Ytr, Yva = mx.array(ytr), mx.array(yva)
    batch = 128
    emit(event="data", train=len(xtr), val=len(xva), world=GROUP.size(),
         share=[round(float((ytr == c).mean()), 3) for c in range(4)], classes=FAMILIES)

    # ---- learning-rate range test on throwaway weights ----
    holder = {"params": init_params(mx.random.key(100))}
    holder["rms"] = opt.init(holder["params"])
    step = make_step(holder)
    lrs = np.geomspace(1e-5, 3.0, 120)
    smooth, best, order = 0.0, float("inf"), rng.permutation(len(xtr))
    found = []
    for i, lr in enumerate(lrs):
        idx = mx.array(order[i * batch:(i + 1) * batch])
        loss = step(Xtr[idx], Ytr[idx], mx.array(lr, dtype=mx.float32))
        mx.eval(loss, holder["params"], holder["rms"])
        smooth = 0.9 * smooth + 0.1 * loss.item()
        s = smooth / (1 - 0.9 ** (i + 1))
        found.append((lr, s))
        best = min(best, s)
        if i % 20 == 0 or s > 4 * best:
            emit(event="range_test", i=i, lr=float(f"{lr:.3g}"), smooth_bits=round(s / LN2, 4))
        if s > 4 * best:
            emit(event="range_test_stop", i=i, reason="loss > 4x best")
            break
    lr_min_loss = min(found, key=lambda t: t[1])[0]
    peak_lr = float(lr_min_loss / 10.0)
    emit(event="range_test_pick", lr_at_min=float(f"{lr_min_loss:.3g}"), peak_lr=float(f"{peak_lr:.3g}"))

    # ---- real run from fresh weights ----
    holder = {"params": init_params(mx.random.key(7))}
    holder["rms"] = opt.init(holder["params"])
    step = make_step(holder)

    _, g0 = grad_fn(holder["params"], Xtr[:batch], Ytr[:batch])
    nz = [k for k, g in tree_flatten(g0) if mx.abs(g).max().item() > 0]
    emit(event="grad_check", leaves=len(g0), nonzero=len(nz))

    acc, bits = accuracy_and_bits(holder["params"], Xva, Yva)
    emit(event="eval", epoch=0, val_bits=round(bits, 4), val_acc_pct=round(100 * acc, 2))

    epochs = 12
    per_epoch = len(xtr) // batch
    total = epochs * per_epoch
    it = 0
    for epoch in range(1, epochs + 1):
        order = mx.array(rng.permutation(len(xtr)))
        tot = 0.0
        for b in range(per_epoch):
            lr = peak_lr * 0.5 * (1 + math.cos(math.pi * it / total))
            idx = order[b * batch:(b + 1) * batch]
            loss = step(Xtr[idx], Ytr[idx], mx.array(lr, dtype=mx.float32))
            mx.eval(loss, holder["params"], holder["rms"])
            tot += loss.item()
            it += 1
        acc, bits = accuracy_and_bits(holder["params"], Xva, Yva)
        emit(event="eval", epoch=epoch, train_bits=round(tot / per_epoch / LN2, 4),
             val_bits=round(bits, 4), val_acc_pct=round(100 * acc, 2),
             lr=float(f"{lr:.3g}"), secs=round(time.time() - t0, 1))
    emit(event="done", secs=round(time.time() - t0, 1))


if __name__ == "__main__":
    main()
