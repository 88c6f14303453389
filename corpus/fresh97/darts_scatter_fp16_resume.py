"""Dart scatter model: where does a dart land relative to where it was aimed?

Inputs: thrower's handicap, darts already thrown this session (fatigue), aim
point on the board (x, y in cm from the bull), oche stance offset and a flag
for a heavy barrel.  Output: a bivariate Gaussian over the landing offset
(dx, dy in cm): mean, two log-sds and a correlation.

The forward/backward pass runs in float16 on a half-precision copy of the
weights; the float32 master weights live in the model and are what Adam
updates.  A static loss scale of 256 keeps small fp16 gradients from
underflowing; a step whose fp16 gradients overflow is skipped.

Half-way through, the run writes a checkpoint (weights + optimizer state +
a shelve file with the step and the data RNG), throws the model and optimizer
away, rebuilds them from the checkpoint and carries on.
"""

import math
import os
import shelve
import shutil
import tempfile

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

LOSS_SCALE = 256.0
ROW = "{:>6} | {:>9} | {:>9} | {:>8} | {:>8} | {:>7}"


def throws(n, rng):
    handicap = rng.uniform(0.0, 1.0, n)              # 0 = pro, 1 = pub beginner
    fatigue = rng.uniform(0.0, 300.0, n)             # darts thrown so far
    aim_x = rng.uniform(-17.0, 17.0, n)
    aim_y = rng.uniform(-17.0, 17.0, n)
    stance = rng.normal(0.0, 1.0, n)                 # cm left/right of the centre of the oche
    heavy = (rng.uniform(size=n) < 0.4).astype(np.float64)
    sx = 0.6 + 2.4 * handicap + 0.004 * fatigue
    sy = (0.8 + 3.0 * handicap + 0.006 * fatigue) * (1.0 - 0.15 * heavy)
    rho = np.tanh(0.3 * stance - 0.02 * aim_x)
    mx_ = 0.25 * stance + 0.03 * aim_x * handicap
    my_ = -0.004 * fatigue * (1.0 - 0.5 * heavy) - 0.6 * handicap
    z1, z2 = rng.normal(size=n), rng.normal(size=n)
    dx = mx_ + sx * z1
    dy = my_ + sy * (rho * z1 + np.sqrt(1.0 - rho ** 2) * z2)
    x = np.column_stack([handicap, fatigue / 150.0 - 1.0, aim_x / 10.0, aim_y / 10.0, stance, heavy])
    # expected NLL under the true distribution (the floor a perfect model reaches)
    floor = math.log(2 * math.pi) + np.log(sx) + np.log(sy) + 0.5 * np.log(1.0 - rho ** 2) + 1.0
    return x.astype(np.float32), np.column_stack([dx, dy]).astype(np.float32), float(floor.mean())


class ScatterNet(nn.Module):
    def __init__(self, n_in=6, width=64):
        super().__init__()
        self.l1 = nn.Linear(n_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 5)   # mu_x, mu_y, log_sx, log_sy, atanh(rho)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h)


def bivariate_nll(raw, y):
    raw = raw.astype(mx.float32)
    mu, log_s, r = raw[:, :2], mx.clip(raw[:, 2:4], -4.0, 4.0), mx.tanh(raw[:, 4]) * 0.98
    z = (y - mu) * mx.exp(-log_s)
    q = (mx.square(z[:, 0]) - 2 * r * z[:, 0] * z[:, 1] + mx.square(z[:, 1])) / (1 - r * r)
    nll = math.log(2 * math.pi) + log_s.sum(axis=1) + 0.5 * mx.log(1 - r * r) + 0.5 * q
    return nll.mean()


def make_step(model, half_model, opt):
    def scaled_loss(half_params, x, y):
        half_model.update(half_params)
        return bivariate_nll(half_model(x), y) * LOSS_SCALE

    grad_fn = mx.value_and_grad(scaled_loss)

    def step(x, y):
        half = tree_map(lambda p: p.astype(mx.float16), model.parameters())
        scaled, g16 = grad_fn(half, x.astype(mx.float16), y)
        grads = tree_map(lambda g: g.astype(mx.float32) / LOSS_SCALE, g16)
        finite = all(bool(mx.all(mx.isfinite(g))) for _, g in tree_flatten(grads))
        if finite:
            opt.update(model, grads)
        return scaled / LOSS_SCALE, finite, grads

    return step


def build(lr_sched):
    model = ScatterNet()
    half_model = ScatterNet()
    opt = optim.Adam(learning_rate=lr_sched, bias_correction=True)
    return model, half_model, opt


def evaluate(model, x, y):
    raw = model(mx.array(x))               # full float32 for evaluation
    nll = bivariate_nll(raw, mx.array(y)).item()
    miss = float(np.mean(np.linalg.norm(np.array(raw[:, :2]) - y, axis=1)))
    return nll, miss


def main():
    rng = np.random.default_rng(501)
    mx.random.seed(501)
    xtr, ytr, _ = throws(16000, rng)
    xva, yva, floor = throws(3000, rng)
    # baseline: a single global Gaussian fitted to the training offsets
    c = np.cov(ytr.T)
    base = math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(c)) + 1.0
    print(f"global-Gaussian baseline NLL on the training throws: {base:.3f} nats; "
          f"true-distribution floor on the validation throws: {floor:.3f} nats")

    total, resume_at, batch = 1600, 800, 128
    lr_sched = optim.cosine_decay(3e-3, total, 1e-4)
    model, half_model, opt = build(lr_sched)
    mx.eval(model.parameters())
    step_fn = make_step(model, half_model, opt)

    _, _, g = step_fn(mx.array(xtr[:batch]), mx.array(ytr[:batch]))
    # that call already applied one update; rebuild so step 1 starts from init
    model, half_model, opt = build(lr_sched)
    mx.eval(model.parameters())
    step_fn = make_step(model, half_model, opt)
    zero = [k for k, v in tree_flatten(g) if not bool(mx.any(v != 0))]
    print(f"gradient check: {len(tree_flatten(g))} leaves, zero leaves: {zero if zero else 'none'}")

    print(ROW.format("step", "train_nll", "val_nll", "miss_cm", "skipped", "lr"))
    val0, miss0 = evaluate(model, xva, yva)
    print(ROW.format(0, "-", f"{val0:.4f}", f"{miss0:.3f}", 0, f"{float(opt.learning_rate):.1e}"))
    ckpt_dir = tempfile.mkdtemp(prefix="darts_ckpt_")
    window, skipped, step = [], 0, 0
    while step < total:
        step += 1
        idx = rng.integers(0, len(xtr), batch)
        loss, ok, _ = step_fn(mx.array(xtr[idx]), mx.array(ytr[idx]))
        mx.eval(model.parameters(), opt.state, loss)
        skipped += 0 if ok else 1
        window.append(loss.item())
        if step % 100 == 0:
            val, miss = evaluate(model, xva, yva)
            print(ROW.format(step, f"{np.mean(window):.4f}", f"{val:.4f}", f"{miss:.3f}", skipped,
                             f"{float(opt.learning_rate):.1e}"))
            window = []
        if step == resume_at:
            model.save_weights(os.path.join(ckpt_dir, "scatter.safetensors"))
            mx.save_safetensors(os.path.join(ckpt_dir, "adam.safetensors"), dict(tree_flatten(opt.state)))
            with shelve.open(os.path.join(ckpt_dir, "meta")) as meta:
                meta["step"] = step
                meta["skipped"] = skipped
                meta["rng"] = rng.bit_generator.state
            saved_val = evaluate(model, xva, yva)[0]
            del model, half_model, opt, step_fn

            model, half_model, opt = build(lr_sched)
            model.load_weights(os.path.join(ckpt_dir, "scatter.safetensors"))
            opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "adam.safetensors")).items()))
            with shelve.open(os.path.join(ckpt_dir, "meta")) as meta:
                step, skipped = meta["step"], meta["skipped"]
                rng.bit_generator.state = meta["rng"]
            mx.eval(model.parameters(), opt.state)
            step_fn = make_step(model, half_model, opt)
            print(f"-- checkpoint written and reloaded at step {step}: val_nll {saved_val:.4f} -> "
                  f"{evaluate(model, xva, yva)[0]:.4f}, adam step counter {int(opt.step)} --")

    shutil.rmtree(ckpt_dir, ignore_errors=True)
    val, miss = evaluate(model, xva, yva)
    print(f"done: val_nll {val:.4f} nats (baseline {base:.3f}, floor {floor:.3f}), mean miss of predicted centre {miss:.3f} cm, "
          f"{skipped} overflow steps skipped")


if __name__ == "__main__":
    main()
