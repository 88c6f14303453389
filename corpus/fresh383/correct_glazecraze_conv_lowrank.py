"""Pottery glaze inspection: low-rank conv adapters for a second kiln's camera.

A small NHWC CNN sorts 12x12 glaze patches (clear / crazed / pinholed / crawled). It is
fitted quietly on kiln A's camera, frozen, and every Conv2d gets a low-rank branch
(k x k conv down to rank r, 1x1 conv back up, the up conv starting at zero). Only the
branches train, on 320 patches from kiln B's camera (other lighting, blur and gain).
Output is CSV on stdout; a merged-kernel audit closes the run.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

S, NCLS = 12, 4
rng = np.random.default_rng(3)
mx.random.seed(3)


def patches(n, cam, r):
    y = r.integers(0, NCLS, n)
    img = np.zeros((n, S, S), np.float32)
    yy, xx = np.mgrid[0:S, 0:S]
    for i in range(n):
        base = 0.6 + 0.1 * r.standard_normal()
        im = np.full((S, S), base, np.float32)
        if y[i] == 1:   # crazing: a few thin random lines
            for _ in range(r.integers(2, 4)):
                a, b = r.uniform(-1, 1, 2)
                c = r.uniform(-4, 4)
                d = np.abs(a * (xx - 6) + b * (yy - 6) - c) / np.hypot(a, b)
                im -= 0.35 * (d < 0.6)
        elif y[i] == 2:  # pinholes: small dark dots
            for _ in range(r.integers(3, 7)):
                cx, cy = r.integers(1, S - 1, 2)
                im[cy, cx] -= 0.5
        elif y[i] == 3:  # crawling: one bare blob
            cx, cy = r.uniform(3, 9, 2)
            rad = r.uniform(1.8, 3.0)
            im -= 0.4 * (((xx - cx) ** 2 + (yy - cy) ** 2) < rad ** 2)
        img[i] = im
    if cam == "B":  # other lighting: side gradient, softer focus, lower gain
        grad = 0.25 * (xx / (S - 1) - 0.5)
        k = np.array([0.25, 0.5, 0.25], np.float32)
        img = np.apply_along_axis(lambda v: np.convolve(v, k, "same"), 1, img)
        img = 0.7 * img + grad + 0.1
    img += 0.06 * r.standard_normal(img.shape).astype(np.float32)
    return mx.array(img[..., None]), mx.array(y.astype(np.int32))


class GlazeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 24, 3, padding=1)
        self.head = nn.Linear(48, NCLS)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        return self.head(mx.concatenate([h.mean(axis=(1, 2)), h.max(axis=(1, 2))], axis=-1))


class LowRankConv(nn.Module):
    def __init__(self, conv, rank, alpha):
        super().__init__()
        cout, kh, kw, cin = conv.weight.shape
        self.conv = conv
        self.down = nn.Conv2d(cin, rank, kh, padding=kh // 2, bias=False)
        self.up = nn.Conv2d(rank, cout, 1, bias=False)
        self.up.weight = mx.zeros_like(self.up.weight)
        self.scale = alpha / rank

    def __call__(self, x):
        return self.conv(x) + self.scale * self.up(self.down(x))

    def merged(self):
        w = self.conv.weight + self.scale * mx.einsum(
            "or,rhwc->ohwc", self.up.weight[:, 0, 0, :], self.down.weight)
        c = nn.Conv2d(w.shape[3], w.shape[0], w.shape[1], padding=w.shape[1] // 2)
        c.weight, c.bias = w, self.conv.bias
        return c


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def acc(model, x, y):
    return 100.0 * float((mx.argmax(model(x), axis=1) == y).mean())


t0 = time.time()
XA, YA = patches(2000, "A", rng)
XAv, YAv = patches(400, "A", rng)
XB, YB = patches(320, "B", rng)
XBv, YBv = patches(400, "B", rng)

net = GlazeNet()
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(net, ce)
for ep in range(6):
    perm = rng.permutation(2000)
    for i in range(0, 2000, 64):
        idx = mx.array(perm[i:i + 64])
        loss, g = vg(net, XA[idx], YA[idx])
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state, loss)
zero_shot_B = acc(net, XBv, YBv)
kilnA_ref = acc(net, XAv, YAv)
print(f"# kiln A fit ({time.time() - t0:.1f}s): kiln A val acc {kilnA_ref:.1f}%, kiln B as-is {zero_shot_B:.1f}%")

net.freeze()
frozen = {k: np.array(v) for k, v in tree_flatten(net.parameters())}
net.c1 = LowRankConv(net.c1, rank=2, alpha=4.0)
net.c2 = LowRankConv(net.c2, rank=4, alpha=8.0)
n_tr = sum(v.size for _, v in tree_flatten(net.trainable_parameters()))
print(f"# low-rank branches: {n_tr} trainable values, head and kernels frozen")

steps, warm = 400, 60
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.0)
vg = nn.value_and_grad(net, ce)

print("step,lr,train_ce,kilnB_val_ce,kilnB_val_acc_pct,kilnA_val_acc_pct,kilnB_as_is_pct")
run = []
for step in range(1, steps + 1):
    lr_used = float(sched(step - 1))
    idx = mx.array(rng.integers(0, 320, 32))
    loss, g = vg(net, XB[idx], YB[idx])
    if step == 1:
        norms = {k: float(mx.sqrt((v * v).sum())) for k, v in tree_flatten(g)}
        print("# first-step grad norms: " + " ".join(f"{k}={v:.2e}" for k, v in norms.items()))
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state, loss)
    run.append(loss.item())
    if step == 1 or step % 40 == 0:
        print(f"{step},{lr_used:.3e},{np.mean(run):.4f},{ce(net, XBv, YBv).item():.4f},"
              f"{acc(net, XBv, YBv):.1f},{acc(net, XAv, YAv):.1f},{zero_shot_B:.1f}")
        run = []

now = {k.replace(".conv.", "."): np.array(v) for k, v in tree_flatten(net.parameters())}
drift = max(float(np.abs(now[k] - v).max()) for k, v in frozen.items())
logits_branch = net(XBv)
net.c1, net.c2 = net.c1.merged(), net.c2.merged()
logits_merged = net(XBv)
print(f"# frozen drift {drift:.1e}; merged-kernel max |logit diff| "
      f"{float(mx.abs(logits_branch - logits_merged).max()):.2e}; merged kiln B acc {acc(net, XBv, YBv):.1f}%")
print(f"# done in {time.time() - t0:.1f}s")
