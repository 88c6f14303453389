"""Cliff railway winch house: 4-way drive condition from 48-sample motor traces.

Station A (upper winch) has a year of labelled traces; station B (the new lower
winch) has a different current clamp (gain, offset, small lag) and only a few
hundred labelled traces.  The Conv1d encoder is fitted quietly on station A,
then adapted to station B by training ONLY bias vectors (stage 1) and then bias
vectors plus LayerNorm gains (stage 2).  A checkpoint of the trainable vectors
and the optimizer state is written after stage 1 and loaded into a freshly built
network before stage 2.
"""

import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CLASSES = ["steady", "bearing_ripple", "rope_slip", "overload"]
T = 48
FLIP = 0.08


def make_traces(n, rng, gain, offset, lag):
    y = rng.integers(0, 4, size=n)
    t = np.arange(T)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    current = 1.0 + 0.5 * np.sin(2 * np.pi * t / 24 + phase)
    speed = 0.8 + 0.3 * np.sin(2 * np.pi * t / 24 + phase - 0.6)
    ripple = 0.35 * np.sin(2 * np.pi * t / 3.0 + phase)
    dips = -0.6 * (np.sin(2 * np.pi * t / 12 + phase) > 0.85)
    drift = 0.5 + 0.02 * t
    current = current + (y == 1)[:, None] * ripple
    speed = speed + (y == 2)[:, None] * dips
    current = current + (y == 3)[:, None] * drift
    x = np.stack([current, speed], axis=-1)
    x = x + rng.normal(0, 0.15, size=x.shape)
    x = np.roll(x, lag, axis=1)
    x = x * gain + offset
    flip = rng.random(n) < FLIP
    y = np.where(flip, rng.integers(0, 4, size=n), y)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class WinchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(2, 16, kernel_size=5, padding=2)
        self.norm1 = nn.LayerNorm(16)
        self.conv2 = nn.Conv1d(16, 16, kernel_size=5, padding=2)
        self.norm2 = nn.LayerNorm(16)
        self.head = nn.Linear(16, 4)

    def __call__(self, x):
        h = nn.gelu(self.norm1(self.conv1(x)))
        h = nn.gelu(self.norm2(self.conv2(h)))
        return self.head(h.mean(axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    loss = nn.losses.cross_entropy(logits, y, reduction="mean")
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean()
    return loss.item(), acc.item()


def batches(n, bs, rng):
    idx = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(idx[i : i + bs])


def count(tree):
    return sum(v.size for _, v in tree_flatten(tree))


def run_epochs(model, opt, step, xs, ys, epochs, rng, bs):
    for _ in range(epochs):
        for b in batches(xs.shape[0], bs, rng):
            loss, grads = step(model, xs[b], ys[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)


def main():
    t0 = time.time()
    mx.random.seed(7)
    rng = np.random.default_rng(7)

    xa, ya = make_traces(3000, rng, gain=1.0, offset=0.0, lag=0)
    xb, yb = make_traces(480, rng, gain=1.7, offset=-0.9, lag=2)
    xbv, ybv = make_traces(800, rng, gain=1.7, offset=-0.9, lag=2)
    ceiling = 1 - FLIP + FLIP / 4

    # ---- stage 0: quiet fit on station A ---------------------------------
    model = WinchNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)
    step = nn.value_and_grad(model, loss_fn)
    run_epochs(model, opt, step, xa, ya, 8, rng, 64)
    la, aa = evaluate(model, xa, ya)
    print(f"station A fit: 8 epochs, train loss {la:.3f}, acc {aa:.3f} (label-noise ceiling {ceiling:.3f})")

    tmp = tempfile.mkdtemp()
    base_path = os.path.join(tmp, "base.safetensors")
    mx.save_safetensors(base_path, dict(tree_flatten(model.parameters())))
    base_conv = {k: np.array(v) for k, v in tree_flatten(model.parameters()) if k.endswith("weight") and "conv" in k}

    lb, ab = evaluate(model, xbv, ybv)
    print(f"station B, frozen station-A net: val loss {lb:.3f}, acc {ab:.3f}; chance acc 0.250")

    # ---- stage 1: biases only -------------------------------------------
    model.freeze()
    model.unfreeze(keys=["bias"])
    n_train = count(model.trainable_parameters())
    print(f"stage 1: training {n_train} bias values of {count(model.parameters())}")

    warm = optim.linear_schedule(0.0, 4e-3, 30)
    sched = optim.join_schedules([warm, optim.cosine_decay(4e-3, 150, 1e-3)], [30])
    opt = optim.Adam(learning_rate=sched)
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(1, 4):
        for b in batches(xb.shape[0], 32, rng):
            loss, grads = step(model, xb[b], yb[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        lv, av = evaluate(model, xbv, ybv)
        print(f"stage 1 epoch {ep}: last batch loss {loss.item():.3f} | val loss {lv:.3f} acc {av:.3f} (frozen net {ab:.3f})")

    ck_params = os.path.join(tmp, "stage1_trainable.safetensors")
    ck_opt = os.path.join(tmp, "stage1_opt.safetensors")
    mx.save_safetensors(ck_params, dict(tree_flatten(model.trainable_parameters())))
    mx.save_safetensors(ck_opt, dict(tree_flatten(opt.state)))
    before_loss, before_acc = evaluate(model, xbv, ybv)
    print(f"checkpoint written: {os.path.basename(ck_params)}, {os.path.basename(ck_opt)} (step {opt.step.item()})")
    del model, opt

    # ---- rebuild and resume ----------------------------------------------
    model = WinchNet()
    model.load_weights(base_path)
    model.load_weights(ck_params, strict=False)
    model.freeze()
    model.unfreeze(keys=["bias"])
    after_loss, after_acc = evaluate(model, xbv, ybv)
    print(f"resumed net: val loss {after_loss:.4f} (before save {before_loss:.4f})")

    # stage 2 adds the LayerNorm gains; the optimizer keeps the bias moments
    for norm in (model.norm1, model.norm2):
        norm.unfreeze(keys=["weight"])
    print(f"stage 2: training {count(model.trainable_parameters())} values (biases + LayerNorm gains)")
    opt = optim.Adam(learning_rate=sched)
    opt.init(model.trainable_parameters())
    saved = tree_unflatten(list(mx.load(ck_opt).items()))
    opt.state["step"] = saved["step"]
    for path in ("conv1", "norm1", "conv2", "norm2", "head"):
        opt.state[path]["bias"] = saved[path]["bias"]
    step = nn.value_and_grad(model, loss_fn)
    for ep in range(4, 10):
        for b in batches(xb.shape[0], 32, rng):
            loss, grads = step(model, xb[b], yb[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        if ep >= 8:
            lv, av = evaluate(model, xbv, ybv)
            print(f"stage 2 epoch {ep}: val loss {lv:.3f} acc {av:.3f} | frozen net {ab:.3f}, ceiling {ceiling:.3f}")

    drift = max(float(np.abs(np.array(v) - base_conv[k]).max()) for k, v in tree_flatten(model.parameters()) if k in base_conv)
    print(f"conv kernel drift since station A fit: {drift:.1e}")
    lv, av = evaluate(model, xbv, ybv)
    print(f"final station B val acc {av:.3f} (frozen net {ab:.3f}, chance 0.250, ceiling {ceiling:.3f}); {time.time() - t0:.1f}s")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
