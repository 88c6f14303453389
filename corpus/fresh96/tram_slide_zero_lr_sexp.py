"""Tram depot: reuse a braking-distance network to flag wheel-slide events.

Stage A fits a backbone + regression head on plenty of braking-distance runs from
depot A.  Stage B builds a NEW model for a small labelled set of wheel-slide events
from depot B: the backbone is copied in from stage A (save_weights / load_weights
through a temp dir), the head is new.  Two optimizers through optim.MultiOptimizer:
the backbone's SGD learning rate is EXACTLY 0 for the first 300 steps (head-only
warm-up, the backbone must not move) and then ramps up to a small value; the head
uses Adam throughout.

Every report is one S-expression on stdout.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_FEAT = 8   # speed, gradient, rail wetness, leaf index, load, wheel wear, brake temp, sand flag


def sx(tag, **kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.5g}"
        elif isinstance(v, str):
            v = f'"{v}"'
        parts.append(f"({k.replace('_', '-')} {v})")
    print(f"({tag} " + " ".join(parts) + ")", flush=True)


def sensors(n, rng, depot_shift):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    x[:, 2] += depot_shift           # depot B sees wetter rails
    x[:, 7] = (rng.random(n) < 0.3).astype(np.float32) * 2 - 1
    return x


def required_decel(x):
    # made-up physics: what the brakes ask of the rail
    speed = 1.2 + 0.4 * x[:, 0]
    return speed ** 2 * (1.0 + 0.25 * x[:, 4]) / (1.0 + 0.15 * np.tanh(x[:, 1])) + 0.2 * x[:, 6]


def adhesion(x):
    return 2.2 - 0.55 * np.tanh(x[:, 2]) - 0.35 * np.maximum(x[:, 3], 0) + 0.3 * x[:, 7] - 0.1 * x[:, 5]


def depot_a(n, rng):
    x = sensors(n, rng, 0.0)
    dist = required_decel(x) / np.maximum(adhesion(x), 0.4) + 0.1 * rng.normal(size=n)
    return x, dist.astype(np.float32)


def depot_b(n, rng):
    x = sensors(n, rng, 0.6)
    margin = adhesion(x) - required_decel(x) * 0.75
    p = 1.0 / (1.0 + np.exp(4.0 * margin))
    y = (rng.random(n) < p).astype(np.float32)
    return x, y


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, 64)
        self.l2 = nn.Linear(64, 64)

    def __call__(self, x):
        return nn.gelu(self.l2(nn.gelu(self.l1(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.backbone(x)).squeeze(-1)


def grad_audit(stage, model, loss_fn, *batch):
    _, g = nn.value_and_grad(model, loss_fn)(model, *batch)
    flat = tree_flatten(g)
    mx.eval([v for _, v in flat])
    dead = [k for k, v in flat if mx.abs(v).max().item() == 0.0]
    sx("grad-check", stage=stage, leaves=len(flat), zero_leaves=len(dead),
       min_max_abs=min(mx.abs(v).max().item() for _, v in flat))
    if dead:
        raise SystemExit(f"dead gradient leaves: {dead}")


def snapshot(module):
    return {k: np.array(v) for k, v in tree_flatten(module.parameters())}


def drift(module, snap):
    return max(float(np.abs(np.array(v) - snap[k]).max()) for k, v in tree_flatten(module.parameters()))


def main():
    rng = np.random.default_rng(77)
    mx.random.seed(77)

    # ----------------------------------------------------------- stage A
    xa, da = depot_a(24000, rng)
    mu_d, sd_d = float(da.mean()), float(da.std())
    Xa, Ya = mx.array(xa), mx.array((da - mu_d) / sd_d)
    Xa_val, Ya_val = Xa[-3000:], Ya[-3000:]
    Xa, Ya = Xa[:-3000], Ya[:-3000]
    sx("data", stage="A", runs=int(Xa.shape[0]), held_out=3000, mean_dist=mu_d, sd_dist=sd_d)

    net_a = Net()

    def mse(model, x, y):
        return nn.losses.mse_loss(model(x), y)

    grad_audit("A", net_a, mse, Xa[:128], Ya[:128])
    opt_a = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 6 * (Xa.shape[0] // 128), 1e-4))
    step_a = nn.value_and_grad(net_a, mse)
    t0 = time.perf_counter()
    for epoch in range(1, 7):
        perm = mx.array(rng.permutation(Xa.shape[0]))
        run = []
        for i in range(0, Xa.shape[0] - 127, 128):
            idx = perm[i:i + 128]
            loss, g = step_a(net_a, Xa[idx], Ya[idx])
            opt_a.update(net_a, g)
            mx.eval(loss, net_a.parameters(), opt_a.state)
            run.append(loss.item())
        val = mse(net_a, Xa_val, Ya_val).item()
        sx("report", stage="A", epoch=epoch, train_mse_std=float(np.mean(run)), val_mse_std=val,
           val_rmse_m=math.sqrt(val) * sd_d, secs=time.perf_counter() - t0)

    tmp = tempfile.mkdtemp(prefix="tram_")
    ckpt = os.path.join(tmp, "backbone.safetensors")
    net_a.backbone.save_weights(ckpt)
    sx("checkpoint", path=os.path.basename(ckpt), bytes=os.path.getsize(ckpt))

    # ----------------------------------------------------------- stage B
    xb, yb = depot_b(3500, rng)
    Xb, Yb = mx.array(xb[:1500]), mx.array(yb[:1500])
    Xb_val, Yb_val = mx.array(xb[1500:]), mx.array(yb[1500:])
    base = float(yb[:1500].mean())
    sx("data", stage="B", labelled=1500, held_out=2000, slide_rate_pct=100 * base,
       majority_acc_pct=100 * max(base, 1 - base))

    net_b = Net()
    net_b.backbone.load_weights(ckpt, strict=True)
    mx.eval(net_b.parameters())
    snap = snapshot(net_b.backbone)

    def bce(model, x, y):
        return nn.losses.binary_cross_entropy(model(x), y, with_logits=True)

    grad_audit("B", net_b, bce, Xb[:64], Yb[:64])

    HOLD = 300

    def backbone_lr(step):
        ramp = mx.clip((step - HOLD) / 200.0, 0.0, 1.0)
        return mx.where(step < HOLD, 0.0, 5e-3 * ramp)

    opt_b = optim.MultiOptimizer(
        [optim.SGD(learning_rate=backbone_lr, momentum=0.9), optim.Adam(learning_rate=3e-3)],
        [lambda path, w: path.startswith("backbone")],
    )
    step_b = nn.value_and_grad(net_b, bce)

    def val_b():
        logits = net_b(Xb_val)
        loss = nn.losses.binary_cross_entropy(logits, Yb_val, with_logits=True)
        acc = ((logits > 0) == (Yb_val > 0.5)).mean()
        mx.eval(loss, acc)
        return loss.item() / math.log(2), 100 * acc.item()

    vb, va = val_b()
    sx("report", stage="B", step=0, backbone_lr=0.0, val_bits=vb, val_acc_pct=va, backbone_drift=0.0)

    n, bs, steps = Xb.shape[0], 64, 1500
    order = rng.permutation(n)
    cur, run, t0 = 0, [], time.perf_counter()
    for step in range(1, steps + 1):
        if cur + bs > n:
            order, cur = rng.permutation(n), 0
        idx = mx.array(order[cur:cur + bs])
        cur += bs
        loss, g = step_b(net_b, Xb[idx], Yb[idx])
        opt_b.update(net_b, g)
        mx.eval(loss, net_b.parameters(), opt_b.state)
        run.append(loss.item())
        if step % 150 == 0:
            vb, va = val_b()
            lr_now = backbone_lr(mx.array(step)).item()
            sx("report", stage="B", step=step, backbone_lr=lr_now,
               train_bits=float(np.mean(run)) / math.log(2), val_bits=vb, val_acc_pct=va,
               backbone_drift=drift(net_b.backbone, snap), secs=time.perf_counter() - t0)
            run = []
    sx("done", note="backbone held still for the first 300 steps by design")


if __name__ == "__main__":
    main()
