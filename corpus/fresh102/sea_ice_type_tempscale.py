"""Sea-ice type from passive-microwave brightness temperatures.

4 classes: open water / new ice / first-year / multi-year, from 6 channels
(19V 19H 37V 37H 89V 89H, kelvin) plus 2-m air temperature (synthetic).
Stage 1: MLP trained with a compiled step (inputs=/outputs= state).
Stage 2: post-hoc TEMPERATURE SCALING - the classifier is frozen on purpose,
only one scalar log-temperature is fitted on the validation logits.
Metrics: NLL in bits per pixel, accuracy %, ECE % (expected calibration error,
lower is better).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["open_water", "new_ice", "first_year", "multi_year"]
CENTRES = np.array([  # 19V 19H 37V 37H 89V 89H  air
    [178, 105, 205, 140, 240, 195, 272],
    [238, 200, 242, 210, 246, 225, 258],
    [252, 236, 248, 232, 238, 222, 250],
    [240, 222, 218, 200, 205, 190, 248],
], dtype=np.float64)


def make_pixels(n, rng):
    y = rng.choice(4, n, p=[0.30, 0.15, 0.35, 0.20])
    X = CENTRES[y] + rng.normal(0, 1, (n, 7)) * np.array([9, 12, 9, 12, 11, 13, 6])
    weather = rng.normal(0, 6, n)[:, None] * np.array([1, 1, 1.5, 1.5, 2.5, 2.5, 0])
    return (X + weather).astype(np.float32), y.astype(np.int32)


class IceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        return self.out(nn.relu(self.l2(nn.relu(self.l1(x)))))


class TempScale(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_t = mx.zeros((1,))

    def __call__(self, logits):
        return logits / mx.exp(self.log_t)


def ece_percent(probs, y, bins=10):
    conf = probs.max(1)
    pred = probs.argmax(1)
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            e += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    return 100 * e


def summarise(logits, y):
    logits = np.array(logits, dtype=np.float64)
    logits -= logits.max(1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    nll_bits = -logp[np.arange(len(y)), y].mean() / math.log(2)
    probs = np.exp(logp)
    acc = (probs.argmax(1) == y).mean() * 100
    return nll_bits, acc, ece_percent(probs, y)


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    Xtr, ytr = make_pixels(4000, rng)
    Xva, yva = make_pixels(3000, rng)
    Xte, yte = make_pixels(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr_m, Xva_m, Xte_m = (mx.array((a - mu) / sd) for a in (Xtr, Xva, Xte))
    ytr_m = mx.array(ytr)

    net = IceNet()
    mx.eval(net.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def ce(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(net, ce)
    _, g0 = vg(net, Xtr_m[:100], ytr_m[:100])
    zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0]
    print(f"stage 1 gradient check: {len(tree_flatten(g0))} leaves, zero = {zero}")
    if zero:
        raise SystemExit(1)

    state = [net.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = vg(net, xb, yb)
        opt.update(net, grads)
        return loss

    prior = np.bincount(ytr, minlength=4) / len(ytr)
    h_prior = -(prior * np.log2(prior)).sum()
    print(f"pixels train/valid/test {len(ytr)}/{len(yva)}/{len(yte)}; "
          f"class-prior entropy {h_prior:.3f} bits")
    print(f"{'epoch':>5} {'train_bits':>10} {'valid_bits':>10} {'valid_acc%':>10} {'valid_ECE%':>10} {'secs':>6}")
    t0 = time.time()
    bs = 50
    for epoch in range(1, 31):
        perm = mx.array(rng.permutation(len(ytr)))
        tot = 0.0
        for i in range(0, len(ytr), bs):
            idx = perm[i:i + bs]
            loss = step(Xtr_m[idx], ytr_m[idx])
            mx.eval(loss, state)
            tot += loss.item() * idx.shape[0]
        if epoch in (1, 2, 5, 10, 15, 20, 25, 30):
            vb, va, ve = summarise(net(Xva_m), yva)
            print(f"{epoch:5d} {tot / len(ytr) / math.log(2):10.4f} {vb:10.4f} {va:10.2f} {ve:10.2f} {time.time() - t0:6.1f}")

    # stage 2: temperature scaling on validation logits, classifier frozen
    net.freeze()
    w_before = np.array(net.l1.weight)
    va_logits = mx.stop_gradient(net(Xva_m))
    yva_m = mx.array(yva)
    scaler = TempScale()
    topt = optim.SGD(learning_rate=0.5)

    def cal_loss(s, lg, yb):
        return nn.losses.cross_entropy(s(lg), yb, reduction="mean")

    cvg = nn.value_and_grad(scaler, cal_loss)
    print("stage 2: temperature scaling (IceNet frozen, 1 trainable scalar)")
    for it in range(1, 201):
        l, g = cvg(scaler, va_logits, yva_m)
        if it == 1:
            print(f"  first-step grad on log_t: {float(g['log_t'][0]):+.4f}")
        topt.update(scaler, g)
        mx.eval(scaler.parameters(), topt.state, l)
        if it in (1, 25, 100, 200):
            print(f"  iter {it:3d}  T={math.exp(float(scaler.log_t[0])):.3f}  "
                  f"valid NLL {l.item() / math.log(2):.4f} bits")
    drift = float(np.abs(np.array(net.l1.weight) - w_before).max())
    te_logits = net(Xte_m)
    b0, a0, e0 = summarise(te_logits, yte)
    b1, a1, e1 = summarise(scaler(te_logits), yte)
    print(f"test before scaling: {b0:.4f} bits/pixel  acc {a0:.2f}%  ECE {e0:.2f}%")
    print(f"test after  scaling: {b1:.4f} bits/pixel  acc {a1:.2f}%  ECE {e1:.2f}%")
    print(f"frozen IceNet drift during calibration: {drift:.1e}")


if __name__ == "__main__":
    main()
