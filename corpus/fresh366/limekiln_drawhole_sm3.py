"""Shaft lime kiln: predict the slaking-reactivity index of the quicklime drawn
at the draw hole from eight burn-log readings. Hand-written SM3 optimizer (row/column cover-set
accumulators for matrices), two warm-restart cycles, and a mid-run
save / rebuild / resume of the model and the SM3 accumulators."""

import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["stone_purity", "stone_size", "shaft_temp", "charge_depth",
            "draw_interval", "draught", "fuel_moisture", "hours_into_burn"]
NOISE = 0.25


def make_burnlog(n, rng):
    x = rng.normal(size=(n, len(FEATURES))).astype(np.float32)
    pure, size, shaft, depth, draw, dra, fuel, hours = x.T
    y = (2.4 + 0.9 * pure + 0.35 * np.tanh(shaft - 0.5 * fuel)
         - 0.25 * depth * draw + 0.2 * np.sin(1.5 * hours) * dra
         + 0.15 * size * pure)
    y = y + NOISE * rng.normal(size=n)
    return x, y.astype(np.float32)


class ReactivityNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


class SM3(optim.Optimizer):
    """SM3-II with heavy-ball momentum. Matrices keep one accumulator per row
    and one per column; vectors keep a full accumulator."""

    def __init__(self, learning_rate, momentum=0.9, eps=1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.eps = eps

    def init_single(self, parameter, state):
        if parameter.ndim == 2:
            state["row"] = mx.zeros((parameter.shape[0],), dtype=parameter.dtype)
            state["col"] = mx.zeros((parameter.shape[1],), dtype=parameter.dtype)
        else:
            state["acc"] = mx.zeros_like(parameter)
        state["buf"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        g2 = mx.square(gradient)
        if parameter.ndim == 2:
            nu = mx.minimum(state["row"][:, None], state["col"][None, :]) + g2
            state["row"] = mx.max(nu, axis=1)
            state["col"] = mx.max(nu, axis=0)
        else:
            nu = state["acc"] + g2
            state["acc"] = nu
        step_dir = gradient * mx.rsqrt(nu + self.eps)
        buf = self.momentum * state["buf"] + (1.0 - self.momentum) * step_dir
        state["buf"] = buf
        return parameter - lr * buf


CYCLE = 600
WARM = 120
PEAK = 0.08
FLOOR = 0.004


def burn_schedule(step):
    # two cycles; each one warms up from exactly 0, then cosine to FLOOR
    s = step % CYCLE
    warm = (s / WARM) * PEAK
    t = mx.clip((s - WARM) / (CYCLE - WARM), 0.0, 1.0)
    cos = FLOOR + 0.5 * (PEAK - FLOOR) * (1.0 + mx.cos(math.pi * t))
    return mx.where(s < WARM, warm, cos)


def huber(pred, y, delta=0.5):
    return nn.losses.huber_loss(pred, y, delta=delta, reduction="mean")


def loss_fn(model, x, y):
    return huber(model(x), y)


def val_metrics(model, xv, yv):
    p = model(xv)
    return huber(p, yv).item(), mx.mean(mx.abs(p - yv)).item()


def run_cycle(model, opt, xt, yt, xv, yv, rng, steps, tag):
    grad_fn = nn.value_and_grad(model, loss_fn)
    n = xt.shape[0]
    order = rng.permutation(n)
    pos = 0
    window = []
    for _ in range(steps):
        if pos + 128 > n:
            order = rng.permutation(n)
            pos = 0
        idx = mx.array(order[pos:pos + 128])
        pos += 128
        lr_now = burn_schedule(opt.state["step"]).item()
        loss, grads = grad_fn(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step = int(opt.state["step"].item())
        if step % 100 == 0 or step % CYCLE == 1:
            vh, vm = val_metrics(model, xv, yv)
            print(f"[{tag}] step {step:4d}  lr {lr_now:.5f}  "
                  f"train_huber {np.mean(window):.4f}  val_huber {vh:.4f}  val_mae {vm:.4f}")
            window = []


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    xtr, ytr = make_burnlog(8000, rng)
    xva, yva = make_burnlog(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    xt, yt = mx.array((xtr - mu) / sd), mx.array(ytr)
    xv, yv = mx.array((xva - mu) / sd), mx.array(yva)

    mean_mae = float(np.mean(np.abs(yva - ytr.mean())))
    floor_mae = NOISE * math.sqrt(2.0 / math.pi)
    print(f"burn log: {xtr.shape[0]} draws train / {xva.shape[0]} val, "
          f"{len(FEATURES)} readings")
    print(f"reference: predict-the-mean val_mae {mean_mae:.4f}, "
          f"noise-floor val_mae {floor_mae:.4f}")

    mx.random.seed(3)
    model = ReactivityNet(len(FEATURES))
    opt = SM3(learning_rate=burn_schedule, momentum=0.9)
    mx.eval(model.parameters())
    vh, vm = val_metrics(model, xv, yv)
    print(f"[init] val_huber {vh:.4f}  val_mae {vm:.4f}")

    run_cycle(model, opt, xt, yt, xv, yv, rng, CYCLE, "cycle1")

    saved_vh, saved_vm = val_metrics(model, xv, yv)
    with tempfile.TemporaryDirectory() as d:
        model.save_weights(os.path.join(d, "kiln.safetensors"))
        mx.savez(os.path.join(d, "sm3.npz"), **dict(tree_flatten(opt.state)))
        with open(os.path.join(d, "meta.json"), "w") as f:
            json.dump({"step": int(opt.state["step"].item()),
                       "val_mae": saved_vm,
                       "rng": rng.bit_generator.state}, f)
        n_leaves = len(tree_flatten(opt.state))
        del model, opt

        mx.random.seed(99)
        model = ReactivityNet(len(FEATURES))
        model.load_weights(os.path.join(d, "kiln.safetensors"))
        opt = SM3(learning_rate=burn_schedule, momentum=0.9)
        opt.state = tree_unflatten(list(mx.load(os.path.join(d, "sm3.npz")).items()))
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        rng = np.random.default_rng()
        rng.bit_generator.state = meta["rng"]
    _, vm2 = val_metrics(model, xv, yv)
    print(f"[resume] restored step {int(opt.state['step'].item())}, "
          f"{n_leaves} state leaves, val_mae {vm2:.4f} (saved {meta['val_mae']:.4f})")

    run_cycle(model, opt, xt, yt, xv, yv, rng, CYCLE, "cycle2")

    vh, vm = val_metrics(model, xv, yv)
    print(f"final val_mae {vm:.4f} | predict-the-mean {mean_mae:.4f} | "
          f"noise floor {floor_mae:.4f} | ratio to floor {vm / floor_mae:.2f}")
    print(f"elapsed {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
