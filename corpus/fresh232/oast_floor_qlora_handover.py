"""Oast-house hop drying: hours a kiln load needs to reach 9 % moisture.

Stage A  float MLP trained on the home oast's drying logs (lr warmup from 0).
Stage B  weights packed to 4 bits with nn.quantize for the kiln controller.
Stage C  the packed net is frozen and low-rank adapters are trained on a
         second oast (different floor and burner) that was bought this year.
         Midway the adapter run is checkpointed, rebuilt and resumed.
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

FEATURES = 16


def drying_logs(n, rng, site):
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    green_moist, load_depth, air_temp, airflow, humidity = x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 4]
    hours = (9.0 + 1.6 * green_moist + 1.2 * load_depth - 1.1 * air_temp
             - 0.8 * np.tanh(airflow) + 0.6 * humidity * load_depth
             + 0.15 * x[:, 5:].sum(axis=1))
    if site == "second":
        # slatted floor: depth matters less, burner runs hotter, humidity bites harder
        hours = hours - 0.7 * load_depth - 0.6 * air_temp + 0.9 * humidity + 0.8
    hours = hours + 0.3 * rng.normal(size=n)
    return x, ((hours - 9.0) / 2.5).astype(np.float32)[:, None]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(FEATURES, 128)
        self.mid = nn.Linear(128, 128)
        self.out = nn.Linear(128, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.mid(nn.silu(self.inp(x)))))


class LowRank(nn.Module):
    def __init__(self, base, rank=8, alpha=16.0):
        super().__init__()
        self.base = base
        d_out = base.bias.shape[0]
        d_in = base.weight.shape[1] * 32 // base.bits if isinstance(base, nn.QuantizedLinear) else base.weight.shape[1]
        self.a = mx.random.normal((d_in, rank)) / math.sqrt(d_in)
        self.b = mx.zeros((rank, d_out))
        self.scale = alpha / rank

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.a) @ self.b)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def hours_mae(model, x, y):
    return (mx.mean(mx.abs(model(x) - y)) * 2.5).item()


def main():
    mx.random.seed(11)
    rng = np.random.default_rng(11)
    xa, ya = drying_logs(12000, rng, "home")
    xav, yav = drying_logs(2000, rng, "home")
    xb, yb = drying_logs(1500, rng, "second")
    xbv, ybv = drying_logs(2000, rng, "second")
    xa, ya, xav, yav, xb, yb, xbv, ybv = map(mx.array, (xa, ya, xav, yav, xb, yb, xbv, ybv))

    # ---- stage A: float pretraining, linear warmup from exactly 0 then cosine
    model = Net()
    mx.eval(model.parameters())
    steps_a = 600
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, steps_a - 60, 1e-5)], [60])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    grad_fn = nn.value_and_grad(model, mse)
    t0 = time.time()
    for step in range(steps_a):
        idx = mx.array(rng.integers(0, xa.shape[0], size=256))
        loss, g = grad_fn(model, xa[idx], ya[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps_a - 1:
            print(f"[A] step {step:4d} lr {opt.learning_rate.item():.2e} "
                  f"loss {loss.item():.4f} home_val_mae_h {hours_mae(model, xav, yav):.3f}")
    float_home = hours_mae(model, xav, yav)
    float_second = hours_mae(model, xbv, ybv)
    print(f"[A] done in {time.time() - t0:.1f}s  float MAE home {float_home:.3f} h  second oast {float_second:.3f} h")

    # ---- stage B: pack to 4 bits (first layer stays float: 16 inputs < group)
    nn.quantize(model, group_size=32, bits=4,
                class_predicate=lambda p, m: isinstance(m, nn.Linear) and m.weight.shape[1] % 32 == 0)
    q_home = hours_mae(model, xav, yav)
    q_second = hours_mae(model, xbv, ybv)
    print(f"[B] 4-bit MAE home {q_home:.3f} h (float {float_home:.3f})  second oast {q_second:.3f} h")

    # ---- stage C: frozen packed net + low-rank adapters on the second oast
    model.freeze()
    model.mid = LowRank(model.mid)
    model.out = LowRank(model.out, rank=4)
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"[C] trainable adapter values: {n_train}")

    def build_opt():
        return optim.Adam(learning_rate=optim.cosine_decay(3e-3, 600, 1e-4))

    opt_c = build_opt()
    grad_fn = nn.value_and_grad(model, mse)
    handover = tempfile.TemporaryDirectory()
    ckpt_dir = handover.name

    step = 0
    while step < 600:
        idx = mx.array(rng.integers(0, xb.shape[0], size=128))
        loss, g = grad_fn(model, xb[idx], yb[idx])
        opt_c.update(model, g)
        mx.eval(model.trainable_parameters(), opt_c.state, loss)
        step += 1
        if step % 200 == 0:
            print(f"[C] step {step:4d} loss {loss.item():.4f} second_val_mae_h {hours_mae(model, xbv, ybv):.3f}")
        if step == 300:
            before = hours_mae(model, xbv, ybv)
            adapters = dict(tree_flatten(model.trainable_parameters()))
            mx.save_safetensors(os.path.join(ckpt_dir, "adapters.safetensors"), adapters)
            state = dict(tree_flatten(opt_c.state))
            mx.save_safetensors(os.path.join(ckpt_dir, "opt.safetensors"), state)
            # rebuild the adapters from scratch and load the handover files
            model.mid = LowRank(model.mid.base)
            model.out = LowRank(model.out.base, rank=4)
            model.load_weights(list(mx.load(os.path.join(ckpt_dir, "adapters.safetensors")).items()), strict=False)
            opt_c = build_opt()
            opt_c.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "opt.safetensors")).items()))
            grad_fn = nn.value_and_grad(model, mse)
            after = hours_mae(model, xbv, ybv)
            print(f"[C] resumed at step {step} from {ckpt_dir}: val MAE {before:.4f} -> {after:.4f} h")

    handover.cleanup()
    final = hours_mae(model, xbv, ybv)
    print(f"[C] second oast MAE: adapted 4-bit {final:.3f} h | unadapted 4-bit {q_second:.3f} h"
          f" | float home model {float_second:.3f} h | noise floor ~{0.3 * math.sqrt(2 / math.pi):.3f} h")


if __name__ == "__main__":
    main()
