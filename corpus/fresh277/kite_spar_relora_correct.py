"""Kite-maker's workshop: predict the flex (mm) of a carbon spar under a test load.

A float MLP was fitted on the old supplier's spars, then stored in 4 bits
(nn.quantize). New supplier, shifted law: adapt with LoRA in cycles; at the end
of each cycle the adapter product is merged into the weights, the weights are
re-quantized to 4 bits, fresh adapters start from B=0, the Adam state is
cleared and the learning rate warms up again from exactly 0.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

GROUP, BITS = 32, 4
RANK, ALPHA = 4, 8.0


def make_spars(n, rng, supplier):
    x = rng.normal(size=(n, 8)).astype(np.float32)
    flex = (2.0 * np.tanh(x[:, 0]) - 1.2 * x[:, 1] + 0.8 * x[:, 2] * x[:, 3]
            + 0.5 * np.sin(2 * x[:, 4]))
    if supplier == "new":
        flex = flex + 0.9 * x[:, 5] - 0.7 * np.abs(x[:, 6]) + 0.6 * x[:, 0] * x[:, 7]
    y = flex + 0.15 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


class SparNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 64)
        self.h1 = nn.Linear(64, 64)
        self.h2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        x = nn.silu(self.inp(x))
        x = nn.silu(self.h1(x))
        x = nn.silu(self.h2(x))
        return self.out(x).squeeze(-1)


class QLoRA(nn.Module):
    """Frozen 4-bit linear plus a trainable low-rank update."""

    def __init__(self, qlin, rank=RANK, alpha=ALPHA):
        super().__init__()
        self.base = qlin
        self.base.freeze()
        out_d = qlin.scales.shape[0]
        in_d = qlin.scales.shape[1] * qlin.group_size
        self.scale = alpha / rank
        self.lora_a = mx.random.uniform(-1, 1, (in_d, rank)) / math.sqrt(in_d)
        self.lora_b = mx.zeros((rank, out_d))

    def __call__(self, x):
        return self.base(x) + (x @ self.lora_a @ self.lora_b) * self.scale

    def merged(self):
        w = mx.dequantize(self.base.weight, self.base.scales, self.base.biases,
                          self.base.group_size, self.base.bits)
        w = w + self.scale * (self.lora_a @ self.lora_b).T
        lin = nn.Linear(w.shape[1], w.shape[0])
        lin.weight = w
        lin.bias = self.base.bias
        return nn.QuantizedLinear.from_linear(lin, GROUP, BITS)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def fit_base(model, x, y, steps=600):
    opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, steps, 1e-4))
    step = nn.value_and_grad(model, mse)
    for i in range(steps):
        idx = mx.array(np.random.randint(0, x.shape[0], 128))
        loss, g = step(model, x[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    return loss.item()


def attach_adapters(model):
    for name in ("h1", "h2", "out"):
        setattr(model, name, QLoRA(getattr(model, name)))


def merge_adapters(model):
    for name in ("h1", "h2", "out"):
        setattr(model, name, getattr(model, name).merged())


def main():
    t0 = time.time()
    np.random.seed(7)
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xo, yo = make_spars(6000, rng, "old")
    xn, yn = make_spars(3000, rng, "new")
    xv, yv = make_spars(1000, rng, "new")

    model = SparNet()
    mx.eval(model.parameters())
    base_loss = fit_base(model, xo, yo)
    print(f"base fitted on old-supplier spars, last batch mse {base_loss:.4f}")

    nn.quantize(model, group_size=GROUP, bits=BITS,
                class_predicate=lambda p, m: isinstance(m, nn.Linear)
                and m.weight.shape[1] % GROUP == 0)
    model.inp.freeze()
    mx.eval(model.parameters())
    mean_base = nn.losses.mse_loss(mx.full(yv.shape, yn.mean()), yv).item()
    print(f"new-supplier val mse: 4-bit base {mse(model, xv, yv).item():.4f} | "
          f"predict-the-mean {mean_base:.4f} | noise floor 0.0225")

    cycles, steps, warm = 4, 150, 15
    loss_and_grad = nn.value_and_grad(model, mse)
    for c in range(cycles):
        attach_adapters(model)
        n_train = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))
        lr = optim.join_schedules(
            [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, steps - warm, 2e-4)],
            [warm])
        opt = optim.Adam(learning_rate=lr)
        loss_and_grad = nn.value_and_grad(model, mse)
        print(f"cycle {c + 1}: fresh adapters ({n_train} trainable values), "
              f"Adam state cleared")
        for s in range(steps):
            idx = mx.array(np.random.randint(0, xn.shape[0], 128))
            loss, g = loss_and_grad(model, xn[idx], yn[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            cur_lr = opt.learning_rate.item()
            if s in (0, 1) or (s + 1) % 50 == 0:
                print(f"  cycle {c + 1} step {s + 1:3d} lr {cur_lr:.2e} "
                      f"train mse {loss.item():.4f}")
        before = mse(model, xv, yv).item()
        merge_adapters(model)
        mx.eval(model.parameters())
        after = mse(model, xv, yv).item()
        print(f"cycle {c + 1} end: val mse {before:.4f} with adapters, "
              f"{after:.4f} after merge + 4-bit re-quantization")
    print(f"final new-supplier val mse {after:.4f} (predict-the-mean {mean_base:.4f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
