"""Marshalling yard: buffer/coupler condition from 3-axis impact traces.

A 1-D conv encoder is fitted once on the north depot's rig, then frozen.
Each other depot gets its own small residual bottleneck adapter pair
(down 16->6, up 6->16, up-projection starts at zero) that is trained on
that depot's traces only.  Adapter training uses cosine warm restarts, so
the loss jumps up at every restart by design.  The east run is stopped
half-way, checkpointed to disk and resumed in a freshly built model.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

T = 48
CLASSES = ["sound", "loose", "cracked", "seized"]


def make_traces(n, rng, depot):
    y = rng.integers(0, 4, size=n)
    t = np.linspace(0.0, 1.0, T)[None, :]
    f = np.where(y == 2, 5.0, 3.0)[:, None] * rng.uniform(0.9, 1.1, (n, 1))
    dec = np.where(y == 3, 9.0, 3.5)[:, None]
    base = np.exp(-dec * t) * np.cos(2 * math.pi * f * t)
    rattle = (y == 1)[:, None] * 0.5 * np.sin(2 * math.pi * 12 * t) * np.exp(-2 * t)
    split = (y == 2)[:, None] * 0.6 * np.cos(2 * math.pi * 8.5 * t) * np.exp(-4 * t)
    step = (y == 3)[:, None] * (1.0 - np.exp(-14 * t))
    x0 = base + rattle + split + step
    x1 = 0.7 * np.roll(x0, 2, axis=1) + 0.2 * rattle
    x2 = np.gradient(x0, axis=1) * 6.0
    x = np.stack([x0, x1, x2], axis=-1)
    x = x + rng.normal(0, 0.6, x.shape)
    if depot == "east":      # harness with axes 0 and 2 swapped, low-gain cells
        x = x[:, :, [2, 1, 0]] * 0.5 + 0.4
    elif depot == "west":    # axis 0 wired with reversed polarity, axis 2 hot
        x = x * np.array([-1.0, 1.0, 2.2])
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class Adapter(nn.Module):
    def __init__(self, dims, hidden):
        super().__init__()
        self.down = nn.Linear(dims, hidden)
        self.up = nn.Linear(hidden, dims)
        self.up.weight = mx.zeros_like(self.up.weight)
        self.up.bias = mx.zeros_like(self.up.bias)

    def __call__(self, h):
        return h + self.up(nn.gelu(self.down(h)))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(16, 4)
        self.adapters = {}
        self.active = None

    def add_adapter(self, name):
        self.adapters[name] = [Adapter(16, 6), Adapter(16, 6)]

    def __call__(self, x):
        a = self.adapters.get(self.active) if self.active else None
        h = nn.gelu(self.c1(x))
        if a:
            h = a[0](h)
        h = nn.gelu(self.c2(h))
        if a:
            h = a[1](h)
        return self.head(h.mean(axis=1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def batches(x, y, bs, rng):
    idx = rng.permutation(x.shape[0])
    for i in range(0, len(idx) - bs + 1, bs):
        j = mx.array(idx[i:i + bs])
        yield x[j], y[j]


def sgdr_lr(step, lr_max, cycles):
    start = 0
    for length in cycles:
        if step < start + length:
            k = step - start
            return 0.5 * lr_max * (1 + math.cos(math.pi * k / length)), k == 0
        start += length
    return 0.0, False


def set_only_trainable(model, name):
    model.freeze()
    for ad in model.adapters[name]:
        ad.unfreeze()


def train_adapter(model, name, data, rng, steps_range, cycles, opt, log):
    xtr, ytr, xva, yva = data
    lvg = nn.value_and_grad(model, loss_fn)
    step = steps_range[0]
    it = batches(xtr, ytr, 32, rng)
    run = []
    while step < steps_range[1]:
        try:
            xb, yb = next(it)
        except StopIteration:
            it = batches(xtr, ytr, 32, rng)
            xb, yb = next(it)
        lr, restart = sgdr_lr(step, 3e-3, cycles)
        opt.learning_rate = lr
        loss, grads = lvg(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        run.append(loss.item())
        if restart and step > 0:
            log(f"[{name}] step {step:4d} warm restart, lr back to {lr:.2e}")
        step += 1
        if step % 40 == 0:
            log(f"[{name}] step {step:4d} lr {lr:.2e} train_ce {np.mean(run):.4f} "
                f"val_acc {accuracy(model, xva, yva):.3f}")
            run = []
    return step


def main():
    t0 = time.time()
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    log = lambda s: print(s, flush=True)

    depots = {}
    for d, ntr in [("north", 2000), ("east", 600), ("west", 600)]:
        xtr, ytr = make_traces(ntr, rng, d)
        xva, yva = make_traces(600, rng, d)
        depots[d] = (xtr, ytr, xva, yva)

    model = Encoder()
    opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
    lvg = nn.value_and_grad(model, loss_fn)
    xtr, ytr, xva, yva = depots["north"]
    for epoch in range(4):
        for xb, yb in batches(xtr, ytr, 32, rng):
            loss, grads = lvg(model, xb, yb)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
    log(f"north base fit done: val_acc {accuracy(model, xva, yva):.3f} (4 epochs, quiet)")
    base_weights = dict(tree_flatten(model.parameters()))

    majority = {d: max(np.bincount(np.array(depots[d][3]), minlength=4)) / 600 for d in depots}
    base_acc = {d: accuracy(model, depots[d][2], depots[d][3]) for d in depots}
    for d in ["east", "west"]:
        log(f"{d} before adapter: val_acc {base_acc[d]:.3f} (majority class {majority[d]:.3f})")

    cycles = [40, 80, 160]
    total = sum(cycles)
    ckdir = tempfile.mkdtemp("", "yard_ck_")

    # ---- east, first half, then stop and checkpoint
    model.add_adapter("east")
    model.active = "east"
    set_only_trainable(model, "east")
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log(f"east adapter: {n_train} trainable params, cycles {cycles}")
    opt_e = optim.Adam(learning_rate=0.0)
    stop_at = 150
    step = train_adapter(model, "east", depots["east"], rng, (0, stop_at), cycles, opt_e, log)
    ad_path = os.path.join(ckdir, "east_adapter.safetensors")
    st_path = os.path.join(ckdir, "east_opt.safetensors")
    ad = {k: v for k, v in tree_flatten(model.parameters()) if k.startswith("adapters.east")}
    mx.save_safetensors(ad_path, ad)
    mx.save_safetensors(st_path, dict(tree_flatten(opt_e.state)))
    acc_at_stop = accuracy(model, *depots["east"][2:])
    log(f"checkpoint at step {step}: {len(ad)} adapter tensors, val_acc {acc_at_stop:.3f}")
    del model, opt_e

    # ---- rebuild from scratch, load base + adapter + optimizer state, continue
    model = Encoder()
    model.update(tree_unflatten([(k, v) for k, v in base_weights.items()]))
    model.add_adapter("east")
    model.load_weights(ad_path, strict=False)
    model.active = "east"
    set_only_trainable(model, "east")
    opt_e = optim.Adam(learning_rate=0.0)
    opt_e.init(model.trainable_parameters())
    opt_e.state = tree_unflatten(list(mx.load(st_path).items()))
    acc_resumed = accuracy(model, *depots["east"][2:])
    log(f"resumed at step {step}: val_acc {acc_resumed:.3f} (same as before stop: "
        f"{abs(acc_resumed - acc_at_stop) < 1e-9})")
    train_adapter(model, "east", depots["east"], rng, (stop_at, total), cycles, opt_e, log)
    east_final = {k: mx.array(v) for k, v in tree_flatten(model.parameters())
                  if k.startswith("adapters.east")}

    # ---- west: new adapter, east adapter idle
    model.add_adapter("west")
    model.active = "west"
    set_only_trainable(model, "west")
    opt_w = optim.Adam(learning_rate=0.0)
    train_adapter(model, "west", depots["west"], rng, (0, total), cycles, opt_w, log)

    # ---- report
    drift_base = max(mx.abs(v - base_weights[k]).max().item()
                     for k, v in tree_flatten(model.parameters()) if not k.startswith("adapters"))
    drift_east = max(mx.abs(v - east_final[k]).max().item()
                     for k, v in tree_flatten(model.parameters()) if k.startswith("adapters.east"))
    log(f"max change of frozen encoder weights: {drift_base:.1e}")
    log(f"max change of east adapter while west trained: {drift_east:.1e}")
    log("depot  majority  base_only  with_adapter")
    for d in ["north", "east", "west"]:
        model.active = None if d == "north" else d
        acc = accuracy(model, depots[d][2], depots[d][3])
        log(f"{d:6s} {majority[d]:8.3f}  {base_acc[d]:9.3f}  {acc:12.3f}")
    log(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
