"""Violin top-plate tap tone (mode-5 frequency, Hz) from tonewood measurements.

Quantization-aware training: every Linear weight is fake-quantized to 4 bits
(per-output-row scale) in the forward pass by an mx.custom_function whose
hand-written vjp is a clipped straight-through estimator.  The float32 shadow
weights are updated by a hand-written momentum SGD over tree_map.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

BITS = 4
QMAX = 2 ** (BITS - 1) - 1  # 7


@mx.custom_function
def fake_quant(w):
    scale = mx.max(mx.abs(w), axis=1, keepdims=True) / QMAX + 1e-8
    return mx.clip(mx.round(w / scale), -QMAX, QMAX) * scale


@fake_quant.vjp
def fake_quant_vjp(primals, cotangent, output):
    # straight-through inside the representable range; every row's max is inside
    return cotangent


class QLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        lim = math.sqrt(1.0 / din)
        self.weight = mx.random.uniform(-lim, lim, (dout, din))
        self.bias = mx.zeros((dout,))

    def __call__(self, x):
        return x @ fake_quant(self.weight).T + self.bias


class TapToneNet(nn.Module):
    def __init__(self, din=5, h=128):
        super().__init__()
        self.l1 = QLinear(din, h)
        self.l2 = QLinear(h, h)
        self.out = QLinear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        return self.out(x).squeeze(-1)


def make_plates(n, rng):
    rho = rng.uniform(0.33, 0.48, n)          # g/cm3 spruce density
    e_long = rng.uniform(9.0, 15.0, n)        # GPa along grain
    e_cross = rng.uniform(0.6, 1.4, n)        # GPa across grain
    thick = rng.uniform(2.4, 3.4, n)          # mm
    arch = rng.uniform(14.0, 18.0, n)         # mm arching height
    f = (330.0 * (thick / 2.9) * np.sqrt((e_long * e_cross) ** 0.5 / 3.3 / (rho / 0.40))
         * (1.0 + 0.012 * (arch - 16.0)) + rng.normal(0.0, 4.0, n))
    X = np.stack([rho, e_long, e_cross, thick, arch], 1).astype(np.float32)
    return X, f.astype(np.float32)


def main():
    t0 = time.time()
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    Xtr, ytr = make_plates(24000, rng)
    Xva, yva = make_plates(1200, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr_m, Xva_m = mx.array((Xtr - mu) / sd), mx.array((Xva - mu) / sd)
    ytr_m, yva_m = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
    print("plates: train %d  valid %d   target %.1f +- %.1f Hz   noise floor 4.0 Hz"
          % (len(ytr), len(yva), ymu, ysd))

    model = TapToneNet()
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    lr, beta = 0.05, 0.9
    velocity = tree_map(mx.zeros_like, model.parameters())

    def valid_report():
        pred = model(Xva_m) * ysd + ymu
        err = pred - mx.array(yva)
        rmse = mx.sqrt(mx.mean(err * err)).item()
        within = (mx.mean((mx.abs(err) < 8.0).astype(mx.float32)) * 100).item()
        return rmse, within

    def codes_of(m):
        return {k: mx.round(v / (mx.max(mx.abs(v), axis=1, keepdims=True) / QMAX + 1e-8))
                for k, v in tree_flatten(m.parameters()) if k.endswith("weight")}

    r0, w0 = valid_report()
    print("untrained      : valid rmse %6.2f Hz   within 8 Hz %5.1f%%" % (r0, w0))

    bs, epochs = 32, 12
    n = len(ytr)
    steps_per_epoch = n // bs
    step = 0
    prev_codes = codes_of(model)
    mx.eval(prev_codes)
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        run, cnt = 0.0, 0
        for b in range(steps_per_epoch):
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
            if step == 0:
                flat = tree_flatten(grads)
                nz = sum(1 for _, g in flat if mx.any(g != 0).item())
                print("step 1 gradient: %d of %d leaves non-zero" % (nz, len(flat)))
            velocity = tree_map(lambda v, g: beta * v + g, velocity, grads)
            model.update(tree_map(lambda p, v: p - lr * v, model.parameters(), velocity))
            mx.eval(model.parameters(), velocity, loss)
            run += loss.item()
            cnt += 1
            step += 1
        ep_lr = lr
        if ep == 8:
            lr *= 0.2  # takes effect from epoch 9
        rmse, within = valid_report()
        codes = codes_of(model)
        changed = sum(mx.sum(codes[k] != prev_codes[k]).item() for k in codes)
        total = sum(codes[k].size for k in codes)
        prev_codes = codes
        print("epoch %2d/%d  lr %.3f  train mse(std) %.4f  valid rmse %6.2f Hz  within 8 Hz %5.1f%%  "
              "int4 codes changed %4d/%d  %.1fs"
              % (ep, epochs, ep_lr, run / cnt, rmse, within, changed, total, time.time() - t0))
    print("done after %d updates; final valid rmse %.2f Hz (started at %.2f)" % (step, rmse, r0))


if __name__ == "__main__":
    main()
