"""Weaving mill swatch camera: 4-way weave (plain / twill / satin / basket)
from synthetic 12x12 grey patches (NHWC).

Stage 1 trains a small Conv2d+BatchNorm CNN in float, quietly.
Stage 2 folds each BatchNorm into the conv before it (checked: same logits),
then runs quantization-aware fine-tuning at W4A8: per-output-channel symmetric
4-bit weights and 8-bit unsigned activations after each ReLU, both with
straight-through rounding.  Activation ranges are tracked by an EMA for the
first 40 steps and then held constant.  The stage-2 learning rate warms up from
exactly 0, so its first step leaves the weights where they are.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten


def make_swatches(n, rng):
    yy, xx = np.mgrid[0:12, 0:12]
    base = {
        0: ((xx + yy) % 2).astype(np.float32),
        1: (((xx + yy) // 2) % 2).astype(np.float32),
        2: (((xx + 2 * yy) % 5) == 0).astype(np.float32),
        3: (((xx // 2) + (yy // 2)) % 2).astype(np.float32),
    }
    y = rng.integers(0, 4, size=n)
    out = np.empty((n, 12, 12, 1), np.float32)
    for k in range(n):
        img = np.roll(base[int(y[k])], shift=(rng.integers(0, 4), rng.integers(0, 4)), axis=(0, 1))
        gain = rng.uniform(0.5, 1.5)
        out[k, :, :, 0] = gain * img + rng.uniform(-0.3, 0.3) + 0.9 * rng.normal(size=(12, 12))
    return out, y.astype(np.int32)


class FloatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.b1 = nn.BatchNorm(8)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.b2 = nn.BatchNorm(16)
        self.fc = nn.Linear(16, 4)

    def __call__(self, x):
        x = nn.relu(self.b1(self.c1(x)))
        x = nn.relu(self.b2(self.c2(x)))
        return self.fc(x.mean(axis=(1, 2)))


def ste_round(x):
    return x + mx.stop_gradient(mx.round(x) - x)


def fq_weight_4bit(w):
    # per output channel, symmetric, codes -8..7
    axes = tuple(range(1, w.ndim))
    scale = mx.maximum(mx.max(mx.abs(w), axis=axes, keepdims=True), 1e-8) / 7.0
    scale = mx.stop_gradient(scale)
    return mx.clip(ste_round(w / scale), -8, 7) * scale


class QuantNet(nn.Module):
    """Conv layers carry the folded BatchNorm; no BatchNorm left."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = nn.Linear(16, 4)
        self._ranges = [1.0, 1.0]  # python floats: kept out of the parameter tree
        self._track = True
        self.quant = True

    def _act(self, x, i):
        x = nn.relu(x)
        if not self.quant:
            return x
        if self._track:
            self._ranges[i] = 0.9 * self._ranges[i] + 0.1 * float(mx.max(x))
        s = self._ranges[i] / 255.0
        return mx.clip(ste_round(x / s), 0, 255) * s

    def _conv(self, conv, x):
        w = fq_weight_4bit(conv.weight) if self.quant else conv.weight
        return mx.conv2d(x, w, stride=conv.stride, padding=conv.padding) + conv.bias

    def __call__(self, x):
        x = self._act(self._conv(self.c1, x), 0)
        x = self._act(self._conv(self.c2, x), 1)
        w = fq_weight_4bit(self.fc.weight) if self.quant else self.fc.weight
        return x.mean(axis=(1, 2)) @ w.T + self.fc.bias


def fold(fnet):
    q = QuantNet()
    for conv, bn, dst in ((fnet.c1, fnet.b1, q.c1), (fnet.c2, fnet.b2, q.c2)):
        k = bn.weight / mx.sqrt(bn.running_var + bn.eps)
        dst.weight = conv.weight * k.reshape(-1, 1, 1, 1)
        dst.bias = bn.bias + (conv.bias - bn.running_mean) * k
    q.fc.weight = fnet.fc.weight
    q.fc.bias = fnet.fc.bias
    return q


def acc(model, x, y):
    return float(mx.mean(mx.argmax(model(x), axis=1) == y))


def main():
    t0 = time.time()
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    xtr, ytr = make_swatches(3000, rng)
    xva, yva = make_swatches(1000, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    print(f"swatches: train={xtr.shape} val={xva.shape} chance=0.25")

    # ---- stage 1: float CNN with BatchNorm, no per-step output
    fnet = FloatNet()
    opt = optim.Adam(learning_rate=2e-3)
    lossf = lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean")
    vg = nn.value_and_grad(fnet, lossf)
    bs, steps = 100, 0
    for ep in range(4):
        perm = np.random.default_rng(ep).permutation(3000)
        for i in range(0, 3000, bs):
            idx = mx.array(perm[i:i + bs])
            l, g = vg(fnet, xtr[idx], ytr[idx])
            opt.update(fnet, g)
            mx.eval(fnet.parameters(), fnet.state, opt.state)
            steps += 1
    fnet.eval()
    float_acc = acc(fnet, xva, yva)
    print(f"stage 1 done: {steps} steps, last batch ce={l.item():.4f}, val_acc={float_acc:.4f}")

    # ---- fold BatchNorm into the convs
    qnet = fold(fnet)
    qnet.quant = False
    diff = float(mx.max(mx.abs(qnet(xva[:256]) - fnet(xva[:256]))))
    folded_acc = acc(qnet, xva, yva)
    print(f"folded: max |logit diff| vs BN net = {diff:.2e}, val_acc={folded_acc:.4f}")

    # ---- naive W4A8 (ranges calibrated on 4 batches, no training)
    qnet.quant = True
    for i in range(4):
        qnet(xtr[i * 250:(i + 1) * 250])
    qnet._track = False
    ptq_acc = acc(qnet, xva, yva)
    print(f"W4A8 without fine-tuning: val_acc={ptq_acc:.4f}")

    # ---- stage 2: QAT, lr warm-up from exactly 0 then cosine
    qnet._track = True
    warm = optim.linear_schedule(0.0, 1e-3, 30)
    cos = optim.cosine_decay(1e-3, 150, 1e-5)
    opt2 = optim.Adam(learning_rate=optim.join_schedules([warm, cos], [30]))
    vg2 = nn.value_and_grad(qnet, lossf)
    before = [v for _, v in tree_flatten(qnet.parameters())]
    print(f"{'step':>5} {'lr':>9} {'train_ce':>9} {'val_acc':>8}")
    rng2 = np.random.default_rng(11)
    for step in range(1, 181):
        idx = mx.array(rng2.integers(0, 3000, size=bs))
        l, g = vg2(qnet, xtr[idx], ytr[idx])
        lr_now = opt2.learning_rate.item()
        opt2.update(qnet, g)
        mx.eval(qnet.parameters(), opt2.state)
        if step == 1:
            moved = max(float(mx.max(mx.abs(a - b)))
                        for a, (_, b) in zip(before, tree_flatten(qnet.parameters())))
            print(f"step 1 lr={lr_now:.1e} max weight change={moved:.1e}")
        if step == 40:
            qnet._track = False
            print(f"activation ranges frozen at {[round(r, 3) for r in qnet._ranges]}")
        if step % 45 == 0:
            print(f"{step:5d} {lr_now:9.2e} {l.item():9.4f} {acc(qnet, xva, yva):8.4f}")

    qat_acc = acc(qnet, xva, yva)
    print("\nmodel                 val_acc")
    print(f"float (BatchNorm)     {float_acc:.4f}")
    print(f"folded float          {folded_acc:.4f}")
    print(f"W4A8 no fine-tuning   {ptq_acc:.4f}")
    print(f"W4A8 after QAT        {qat_acc:.4f}")
    print(f"chance                0.2500")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
