"""Glasshouse heating: predict night canopy temperature (deg C) from heating-loop readings.

Trains in two sittings: the first sitting stops at step 300 and writes a checkpoint
(weights, Adafactor state, step counter, data-order RNG); the second sitting rebuilds
everything from scratch, loads the checkpoint and carries on to step 600.
A second model trained straight through is kept alongside as a reference.
"""
import json
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

FEATURES = ["boiler_water", "loop_flow", "outside_air", "wind", "pipe_run", "vent_open"]
TOTAL_STEPS = 600
STOP_AT = 300
BATCH = 64
LOG_EVERY = 50


def make_data(n, rng):
    src = rng.uniform(48, 72, n)          # boiler flow water, C
    flow = rng.uniform(5, 40, n)          # litres / minute in the loop
    air = rng.uniform(-8, 28, n)          # outside air, C
    wind = rng.gamma(2.0, 2.0, n)         # m/s
    pipe = rng.uniform(10, 120, n)        # m of heating pipe to the bay
    valve = rng.uniform(0, 1, n)          # roof vent opening fraction
    loss_pipe = (src - air) * (1 - np.exp(-pipe / (6.0 * flow)))
    pool = src - loss_pipe
    pool = pool - 0.35 * wind * (pool - air) / 10.0
    pool = (1 - 0.45 * valve) * pool + 0.45 * valve * 12.0
    y = pool + rng.normal(0, 0.6, n)
    X = np.stack([src, flow, air, wind, pipe, valve], 1).astype(np.float32)
    return X, y.astype(np.float32)[:, None]


class Canopy(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.norm = nn.LayerNorm(width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.mid(h))
        return self.out(h)


def build(seed):
    mx.random.seed(seed)
    model = Canopy(len(FEATURES))
    mx.eval(model.parameters())
    # step size ramps up linearly from exactly 0 over 120 steps, then holds
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-2, 120), lambda s: mx.array(1e-2)], [120]
    )
    opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False,
                          beta_1=0.9, warmup_init=False)
    return model, opt


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def make_step(model, opt):
    vg = nn.value_and_grad(model, loss_fn)

    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    return step


def save_checkpoint(path, model, opt, step, rng):
    model.save_weights(os.path.join(path, "weights.safetensors"))
    mx.save_safetensors(os.path.join(path, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(path, "progress.json"), "w") as f:
        json.dump({"step": step, "rng": rng.bit_generator.state}, f)


def load_checkpoint(path, model, opt, rng):
    model.load_weights(os.path.join(path, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(path, "optimizer.safetensors")).items()))
    with open(os.path.join(path, "progress.json")) as f:
        prog = json.load(f)
    rng.bit_generator.state = prog["rng"]
    mx.eval(model.parameters(), opt.state)
    return prog["step"]


def evaluate(model, Xv, yv, mu_y, sd_y):
    pred = model(Xv) * sd_y + mu_y
    return mx.mean(mx.abs(pred - (yv * sd_y + mu_y))).item()


def main():
    t0 = time.time()
    data_rng = np.random.default_rng(7)
    Xtr, ytr = make_data(6000, data_rng)
    Xva, yva = make_data(1500, data_rng)
    mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
    mu_y, sd_y = float(ytr.mean()), float(ytr.std())
    Xtr_n = mx.array((Xtr - mu_x) / sd_x)
    ytr_n = mx.array((ytr - mu_y) / sd_y)
    Xva_n = mx.array((Xva - mu_x) / sd_x)
    yva_n = mx.array((yva - mu_y) / sd_y)
    baseline = float(np.mean(np.abs(yva - ytr.mean())))
    # grower's rule of thumb: canopy = boiler water - 10 C
    rule = float(np.mean(np.abs(yva[:, 0] - (Xva[:, 0] - 10.0))))

    print("phase,step,lr,train_mse,val_mae_C,mean_baseline_C,rule_of_thumb_C")

    # reference: straight through
    ref_model, ref_opt = build(seed=11)
    ref_step = make_step(ref_model, ref_opt)
    ref_rng = np.random.default_rng(123)
    for it in range(1, TOTAL_STEPS + 1):
        idx = mx.array(ref_rng.integers(0, Xtr_n.shape[0], BATCH))
        loss = ref_step(Xtr_n[idx], ytr_n[idx])
        mx.eval(ref_model.parameters(), ref_opt.state, loss)

    # sitting 1
    model, opt = build(seed=11)
    step_fn = make_step(model, opt)
    rng = np.random.default_rng(123)
    ckpt = tempfile.mkdtemp()
    for it in range(1, STOP_AT + 1):
        idx = mx.array(rng.integers(0, Xtr_n.shape[0], BATCH))
        loss = step_fn(Xtr_n[idx], ytr_n[idx])
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % LOG_EVERY == 0:
            lr = opt.learning_rate.item()
            print(f"sitting1,{it},{lr:.5f},{loss.item():.5f},{evaluate(model, Xva_n, yva_n, mu_y, sd_y):.3f},{baseline:.3f},{rule:.3f}")
    save_checkpoint(ckpt, model, opt, STOP_AT, rng)
    del model, opt, step_fn, rng
    print(f"# checkpoint written at step {STOP_AT}; interpreter state dropped")

    # sitting 2: fresh objects (different init seed, so loading really matters)
    model, opt = build(seed=999)
    rng = np.random.default_rng(0)
    opt.init(model.trainable_parameters())
    start = load_checkpoint(ckpt, model, opt, rng)
    step_fn = make_step(model, opt)
    print(f"# resumed at step {start}, optimizer step counter {int(opt.step.item())}")
    for it in range(start + 1, TOTAL_STEPS + 1):
        idx = mx.array(rng.integers(0, Xtr_n.shape[0], BATCH))
        loss = step_fn(Xtr_n[idx], ytr_n[idx])
        mx.eval(model.parameters(), opt.state, loss)
        if it % LOG_EVERY == 0:
            lr = opt.learning_rate.item()
            print(f"sitting2,{it},{lr:.5f},{loss.item():.5f},{evaluate(model, Xva_n, yva_n, mu_y, sd_y):.3f},{baseline:.3f},{rule:.3f}")

    diffs = [mx.max(mx.abs(a - b)).item() for (_, a), (_, b) in zip(
        tree_flatten(model.parameters()), tree_flatten(ref_model.parameters()))]
    final_mae = evaluate(model, Xva_n, yva_n, mu_y, sd_y)
    ref_mae = evaluate(ref_model, Xva_n, yva_n, mu_y, sd_y)
    print(f"# resumed vs straight-through: max |param diff| = {max(diffs):.2e}")
    print(f"# final val MAE {final_mae:.3f} C (straight-through {ref_mae:.3f} C, "
          f"mean baseline {baseline:.3f} C, rule of thumb {rule:.3f} C, noise sd 0.6 C)")
    print(f"# wall {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
