"""Ski-resort snowmaking: predict snow-gun output (m3/h) and its spread from
wet-bulb temperature, water pressure, air pressure, nozzle count and wind.
Heteroscedastic Gaussian NLL (goes negative), variance through a softplus
written as mx.custom_function with its own VJP, hand-written momentum SGD."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map


@mx.custom_function
def softplus(x):
    return mx.logaddexp(x, mx.zeros_like(x))


@softplus.vjp
def softplus_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (list, tuple)) else primals
    return cotangent * mx.sigmoid(x)


class SnowGun(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.body = [nn.Linear(5, width), nn.Linear(width, width)]
        self.mean_head = nn.Linear(width, 1)
        self.var_head = nn.Linear(width, 1)

    def __call__(self, x):
        for layer in self.body:
            x = nn.silu(layer(x))
        mean = self.mean_head(x).squeeze(-1)
        var = softplus(self.var_head(x).squeeze(-1)) + 1e-3
        return mean, var


def gauss_nll(model, x, y):
    mean, var = model(x)
    return mx.mean(0.5 * (mx.log(var) + (y - mean) ** 2 / var + math.log(2 * math.pi)))


def make_data(n, rng):
    wetbulb = rng.uniform(-12, -1, n)
    water_bar = rng.uniform(10, 40, n)
    air_bar = rng.uniform(4, 8, n)
    nozzles = rng.integers(12, 37, n).astype(np.float64)
    wind = rng.gamma(2.0, 1.5, n)
    out = (nozzles * 0.9 * np.sqrt(water_bar) * (1 + 0.06 * (-wetbulb))
           * (0.85 + 0.03 * air_bar))
    spread = 1.0 + 0.9 * wind + 0.15 * np.maximum(wetbulb + 4, 0) * nozzles / 10
    y = out + rng.normal(0, 1, n) * spread
    x = np.stack([wetbulb, water_bar, air_bar, nozzles, wind], 1)
    return x.astype(np.float32), y.astype(np.float32)


def emit(record):
    print("-", end="")
    for i, (k, v) in enumerate(record.items()):
        pad = " " if i == 0 else "  "
        if isinstance(v, float):
            v = f"{v:.4f}"
        print(f"{pad}{k}: {v}")


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    xtr, ytr = make_data(10000, rng)
    xva, yva = make_data(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
    Ytr, Yva = mx.array((ytr - ymu) / ysd), mx.array((yva - ymu) / ysd)
    print("# snowmaking log, YAML-ish records; nll in nats on the standardised target")
    print(f"# guns: {len(ytr)} train / {len(yva)} valid, output {ymu:.1f} +- {ysd:.1f} m3/h")

    net = SnowGun()
    mx.eval(net.parameters())
    lr, mom = 0.004, 0.9
    velocity = tree_map(mx.zeros_like, net.trainable_parameters())
    loss_and_grad = nn.value_and_grad(net, gauss_nll)

    def evaluate():
        mean, var = net(Xva)
        nll = float(gauss_nll(net, Xva, Yva))
        mae = float(mx.mean(mx.abs(mean - Yva))) * ysd
        z = mx.abs(mean - Yva) / mx.sqrt(var)
        cover = float(mx.mean((z < 1.6449).astype(mx.float32)))
        return nll, mae, cover

    nll, mae, cover = evaluate()
    emit({"event": "untrained", "valid_nll": nll, "valid_mae_m3h": mae,
          "cover90_pct": f"{100 * cover:.1f}"})

    bs, epochs = 128, 24
    step = 0
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(ytr))
        tot, nb = 0.0, 0
        for b in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[b:b + bs])
            loss, grads = loss_and_grad(net, Xtr[idx], Ytr[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                emit({"event": "grad_check", "leaves": len(flat), "zero_leaves": zero or "none"})
            grads = tree_map(lambda g: mx.clip(g, -5.0, 5.0), grads)
            velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
            net.update(tree_map(lambda p, v: p - lr * v, net.trainable_parameters(), velocity))
            mx.eval(net.parameters(), velocity, loss)
            tot += loss.item()
            nb += 1
            step += 1
        nll, mae, cover = evaluate()
        emit({"event": "epoch", "epoch": epoch, "step": step, "train_nll": tot / nb,
              "valid_nll": nll, "valid_mae_m3h": mae, "cover90_pct": f"{100 * cover:.1f}",
              "secs": round(time.time() - t0, 1)})
    emit({"event": "done", "note": "lower nll is better; cover90 should sit near 90",
          "secs": round(time.time() - t0, 1)})


if __name__ == "__main__":
    main()
