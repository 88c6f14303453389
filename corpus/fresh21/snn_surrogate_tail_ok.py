"""Spiking MLP (LIF neurons, BPTT with a surrogate gradient) on rate-coded synthetic
"glyphs": 10 prototype patterns of 64 pixels, noisy copies, Bernoulli rate coding."""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NUM_STEPS = 16
N_IN, N_HID, N_OUT = 64, 32, 10


def fast_sigmoid_surrogate(scale=25.0):
    # Heaviside forward, smooth approximation backward (straight-through pattern)
    def forward(x):
        heaviside = mx.where(x >= 0, mx.ones_like(x), mx.zeros_like(x))
        approx = 0.5 * scale * x / (1.0 + scale * mx.abs(x)) + 0.5
        return mx.stop_gradient(heaviside - approx) + approx
    return forward


class Leaky(nn.Module):
    def __init__(self, beta=0.9, threshold=1.0, reset="subtract"):
        super().__init__()
        self._beta = beta
        self._thr = threshold
        self._reset = reset
        self._spike = fast_sigmoid_surrogate(25.0)

    def __call__(self, x, mem):
        mem = self._beta * mem + x
        spk = self._spike(mem - self._thr)
        if self._reset == "subtract":
            mem = mem - mx.stop_gradient(spk) * self._thr
        return spk, mem


class SpikingMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(N_IN, N_HID)
        self.lif1 = Leaky(beta=0.5)
        self.fc2 = nn.Linear(N_HID, N_HID)
        self.lif2 = Leaky(beta=0.5)
        self.fc3 = nn.Linear(N_HID, N_OUT)
        self.lif3 = Leaky(beta=0.9, reset="none")

    def __call__(self, x):  # x: [T, B, N_IN]
        B = x.shape[1]
        mem1 = mx.zeros((B, N_HID))
        mem2 = mx.zeros((B, N_HID))
        mem3 = mx.zeros((B, N_OUT))
        rate = 0.0
        for t in range(NUM_STEPS):
            spk1, mem1 = self.lif1(self.fc1(x[t]), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            _, mem3 = self.lif3(self.fc3(spk2), mem3)
            rate = rate + spk2
        return mem3, rate / NUM_STEPS


# ---- synthetic glyph data ----
rs = np.random.default_rng(3)
protos = (rs.random((N_OUT, N_IN)) < 0.3).astype(np.float32)


def make_split(n):
    y = rs.integers(0, N_OUT, n)
    x = protos[y].copy()
    flip = rs.random(x.shape) < 0.2
    x[flip] = 1.0 - x[flip]
    return (0.3 * x).astype(np.float32), y.astype(np.int32)


x_tr, y_tr = make_split(4000)
x_te, y_te = make_split(1000)


def rate_code(p):
    return (mx.random.uniform(shape=(NUM_STEPS,) + p.shape) < p[None]).astype(mx.float32)


def main():
    mx.random.seed(0)
    model = SpikingMLP()
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)

    def loss_fn(model, x, y):
        mem, _ = model(x)
        return nn.losses.cross_entropy(mem, y, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    bs = 100
    t0 = time.time()
    print(f"{'epoch':>5} {'train_ce':>9} {'test_acc':>9} {'hid_rate':>9} {'sec':>6}")
    for epoch in range(1, 11):
        perm = rs.permutation(len(x_tr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm), bs):
            idx = perm[i:i + bs]
            x = rate_code(mx.array(x_tr[idx]))
            y = mx.array(y_tr[idx])
            loss, grads = step(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        mem, rate = model(rate_code(mx.array(x_te)))
        acc = (mx.argmax(mem, axis=1) == mx.array(y_te)).mean().item()
        print(f"{epoch:5d} {tot / nb:9.4f} {acc:9.3f} {rate.mean().item():9.3f} {time.time() - t0:6.1f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
