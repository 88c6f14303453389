# Sea-state class (calm / slight / moderate / rough / very rough) for a low-power
# weather buoy from 12 standardised sensor readings. A float model is fitted
# first, then the weights are stepped down a bit-width ladder (8 -> 6 -> 4 -> 3)
# with fake quantization in the forward pass and a pass-through gradient.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

N_FEAT, N_CLASS = 12, 5


def make_buoy_data(n, rng):
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    wave = 1.1 * x[:, 0] + 0.6 * x[:, 1] * x[:, 2] + 0.8 * np.tanh(x[:, 3]) + 0.5 * x[:, 4] ** 2
    wind = 0.7 * x[:, 5] - 0.4 * x[:, 6] + 0.3 * np.sin(2.0 * x[:, 7])
    score = wave + wind + 0.35 * rng.normal(size=n)
    edges = np.quantile(score, [0.2, 0.4, 0.6, 0.8])
    y = np.searchsorted(edges, score).astype(np.int32)
    return x, y


def fake_quant(w, bits):
    # symmetric per-output-row quantization; forward uses the rounded value,
    # backward sees the identity through the stop_gradient term
    qmax = 2 ** (bits - 1) - 1
    scale = mx.maximum(mx.abs(w).max(axis=1, keepdims=True), 1e-8) / qmax
    q = mx.clip(mx.round(w / scale), -qmax, qmax) * scale
    return w + mx.stop_gradient(q - w)


class QLinear(nn.Linear):
    def __init__(self, din, dout):
        super().__init__(din, dout)
        self.bits = None

    def __call__(self, x):
        w = self.weight if self.bits is None else fake_quant(self.weight, self.bits)
        return x @ w.T + self["bias"]


class SeaStateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = QLinear(N_FEAT, 64)
        self.l2 = QLinear(64, 64)
        self.out = QLinear(64, N_CLASS)

    def set_bits(self, bits):
        for m in (self.l1, self.l2, self.out):
            m.bits = bits

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).astype(mx.float32).mean().item()


def run_epochs(model, opt, xtr, ytr, epochs, rng, log_every=None, tag=""):
    step_fn = nn.value_and_grad(model, loss_fn)
    n = xtr.shape[0]
    step = 0
    for ep in range(epochs):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - 63, 64):
            idx = mx.array(perm[i : i + 64])
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
            step += 1
        if log_every and (ep + 1) % log_every == 0:
            yield ep + 1, step, tot / cnt


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    x, y = make_buoy_data(6000, rng)
    xtr, ytr = mx.array(x[:4800]), mx.array(y[:4800])
    xte, yte = mx.array(x[4800:]), mx.array(y[4800:])
    print(f"buoy records: train {xtr.shape[0]}  test {xte.shape[0]}  classes {N_CLASS}  chance 20.0%")

    model = SeaStateNet()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"model parameters: {n_params}")

    # float fit, no per-epoch output
    opt = optim.Adam(learning_rate=3e-3)
    for _ in run_epochs(model, opt, xtr, ytr, 12, rng):
        pass
    float_acc = accuracy(model, xte, yte)
    print(f"float reference: test acc {100 * float_acc:.1f}%  ({time.time() - t0:.1f}s)")

    print("stage,bits,epoch,step,lr,train_ce,test_acc_pct,gap_to_float_pct")
    steps_per_epoch = xtr.shape[0] // 64
    epochs_per_stage = 5
    for bits in (8, 6, 4, 3):
        model.set_bits(bits)
        entry_acc = accuracy(model, xte, yte)
        warm = steps_per_epoch
        total = steps_per_epoch * epochs_per_stage
        sched = optim.join_schedules(
            [optim.linear_schedule(0.0, 1e-3, warm),
             optim.cosine_decay(1e-3, total - warm, 1e-5)],
            [warm],
        )
        opt = optim.Adam(learning_rate=sched)
        print(f"{bits}-bit,{bits},0,0,0.0,,{100 * entry_acc:.1f},{100 * (float_acc - entry_acc):+.1f}")
        for ep, step, ce in run_epochs(model, opt, xtr, ytr, epochs_per_stage, rng, log_every=1):
            acc = accuracy(model, xte, yte)
            lr = opt.learning_rate.item()
            print(f"{bits}-bit,{bits},{ep},{step},{lr:.2e},{ce:.4f},{100 * acc:.1f},{100 * (float_acc - acc):+.1f}")

    # the deployed weights are the rounded ones; check the rounding is really in effect
    w = model.l2.weight
    q = fake_quant(w, 3)
    levels = np.unique(np.round(np.array(q / (mx.abs(w).max(axis=1, keepdims=True) / 3)), 4))
    print(f"3-bit levels used in l2: {levels.tolist()}")
    print(f"final 3-bit test acc {100 * accuracy(model, xte, yte):.1f}%  float {100 * float_acc:.1f}%  "
          f"time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
