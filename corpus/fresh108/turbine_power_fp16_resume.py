"""Wind-turbine power-curve regression, mixed precision, with a resume.

Master weights are float32; the forward/backward run in float16 on
casted copies. The loss is scaled before differentiation (dynamic loss
scale: halved on overflow, doubled after a clean stretch) and the grads are
unscaled in float32. Gradients are averaged over the distributed group with
all_sum (a single process here, so the group has size 1).

The run is split in two sessions: session 1 trains and writes a checkpoint
(weights + optimizer state + loss scale) into a temporary folder; session 2
builds everything fresh, loads that checkpoint and continues.
"""
import json
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

RATED_KW = 2300.0
FEATURES = ["wind_ms", "air_density", "yaw_err_deg", "turbulence", "wind_ms_sq"]


def simulate(rng, n):
    v = rng.weibull(2.0, n) * 9.0
    rho = rng.normal(1.225, 0.03, n)
    yaw = rng.normal(0.0, 8.0, n)
    ti = rng.uniform(0.05, 0.25, n)
    v_eff = v * np.cos(np.radians(yaw)) ** (1.0 / 3.0) * (rho / 1.225) ** (1.0 / 3.0)
    # logistic-shaped power curve: cut-in ~3 m/s, rated ~12.5 m/s, cut-out 25 m/s
    p = 1.0 / (1.0 + np.exp(-(v_eff - 8.2) / 1.3))
    p = p - 0.08 * ti * np.exp(-((v_eff - 11.5) ** 2) / 4.0)  # turbulence rounds the knee
    p = np.where(v_eff < 3.0, 0.0, p)
    p = np.where(v > 25.0, 0.0, p)
    p = np.clip(p + rng.normal(0, 0.015, n), 0.0, 1.02)
    x = np.stack([v, rho, yaw, ti, v ** 2], axis=1).astype(np.float32)
    return x, p.astype(np.float32)


class PowerCurveNet(nn.Module):
    """float32 parameters; __call__ computes in `compute_dtype`."""

    def __init__(self, n_in, hidden=64, compute_dtype=mx.float16):
        super().__init__()
        self.compute_dtype = compute_dtype
        self.l1 = nn.Linear(n_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def _lin(self, layer, h):
        w = layer.weight.astype(self.compute_dtype)
        b = layer.bias.astype(self.compute_dtype)
        return h @ w.T + b

    def __call__(self, x):
        h = x.astype(self.compute_dtype)
        h = nn.silu(self._lin(self.l1, h))
        h = nn.silu(self._lin(self.l2, h))
        return self._lin(self.out, h).squeeze(-1).astype(mx.float32)


class LossScaler:
    def __init__(self, scale=2.0 ** 12, growth_interval=250):
        self.scale = scale
        self.growth_interval = growth_interval
        self.clean_steps = 0
        self.skipped = 0

    def unscale(self, grads):
        inv = 1.0 / self.scale
        grads = tree_map(lambda g: g.astype(mx.float32) * inv, grads)
        finite = all(bool(mx.all(mx.isfinite(g))) for _, g in tree_flatten(grads))
        if finite:
            self.clean_steps += 1
            if self.clean_steps % self.growth_interval == 0:
                self.scale = min(self.scale * 2.0, 2.0 ** 15)
        else:
            self.scale /= 2.0
            self.clean_steps = 0
            self.skipped += 1
        return grads, finite

    def state(self):
        return {"scale": self.scale, "clean_steps": self.clean_steps, "skipped": self.skipped}

    def load(self, d):
        self.scale, self.clean_steps, self.skipped = d["scale"], d["clean_steps"], d["skipped"]


def build(n_in, lr):
    model = PowerCurveNet(n_in)
    opt = optim.Adam(learning_rate=lr, bias_correction=True)
    return model, opt


def save_checkpoint(folder, model, opt, scaler, step):
    model.save_weights(os.path.join(folder, "model.safetensors"))
    mx.save_safetensors(os.path.join(folder, "optim.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump({"step": step, "scaler": scaler.state()}, f)


def load_checkpoint(folder, model, opt, scaler):
    model.load_weights(os.path.join(folder, "model.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optim.safetensors")).items()))
    with open(os.path.join(folder, "meta.json")) as f:
        meta = json.load(f)
    scaler.load(meta["scaler"])
    return meta["step"]


def evaluate(model, x, y):
    pred = mx.clip(model(x), 0.0, 1.1)
    err = mx.abs(pred - y)
    mae_kw = err.mean().item() * RATED_KW
    # annual energy estimate error, in % of the true energy of the sample
    aep_err = abs(pred.sum().item() - y.sum().item()) / y.sum().item() * 100.0
    return mae_kw, aep_err


def run_session(name, group, start_step, end_step, data, ckpt_dir, resume):
    xtr, ytr, xva, yva, mu, sd = data
    model, opt = build(xtr.shape[1], lr=2e-3)
    scaler = LossScaler()
    if resume:
        start_step = load_checkpoint(ckpt_dir, model, opt, scaler)
        print(f"[{name}] resumed at step {start_step} (optimizer step {opt.step.item()}, loss scale {scaler.scale:g})")
    mx.eval(model.parameters())

    def loss_fn(model, xb, yb, scale):
        return nn.losses.mse_loss(model(xb), yb) * scale

    grad_fn = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(1000 + start_step)
    n = xtr.shape[0]
    t0 = time.time()
    window = []
    for step in range(start_step, end_step):
        idx = mx.array(rng.integers(0, n, 128))
        scaled_loss, grads = grad_fn(model, xtr[idx], ytr[idx], scaler.scale)
        grads, ok = scaler.unscale(grads)
        if step == 0:
            flat = tree_flatten(grads)
            nz = sum(1 for _, g in flat if float(mx.abs(g).max()) > 0)
            print(f"[{name}] gradient check: {nz}/{len(flat)} leaves non-zero at step 0")
        if not ok:
            continue  # skip this update, scale already halved
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / group.size(), grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, scaled_loss)
        window.append(scaled_loss.item() / scaler.scale)
        if (step + 1) % 300 == 0:
            mae_kw, aep = evaluate(model, xva, yva)
            rmse_kw = math.sqrt(sum(window) / len(window)) * RATED_KW
            print(
                f"[{name}] step {step + 1:5d}  train_rmse {rmse_kw:7.1f} kW  "
                f"val_mae {mae_kw:6.1f} kW  energy_err {aep:5.2f} %  "
                f"scale {scaler.scale:g}  skipped {scaler.skipped}"
            )
            window = []
    save_checkpoint(ckpt_dir, model, opt, scaler, end_step)
    print(f"[{name}] wrote checkpoint at step {end_step} ({time.time() - t0:.1f}s)")
    return model


def main():
    mx.random.seed(3)
    group = mx.distributed.init()
    print(f"distributed group: rank {group.rank()} of {group.size()}")
    rng = np.random.default_rng(3)
    x, y = simulate(rng, 12000)
    mu, sd = x[:10000].mean(0), x[:10000].std(0)
    xs = (x - mu) / sd
    data = (
        mx.array(xs[:10000]), mx.array(y[:10000]),
        mx.array(xs[10000:]), mx.array(y[10000:]), mu, sd,
    )
    base = abs(float(y[10000:].mean()) - y[10000:]).mean() * RATED_KW
    print(f"baseline (predict the mean): val_mae {base:.1f} kW")
    with tempfile.TemporaryDirectory() as ckpt_dir:
        run_session("session-1", group, 0, 1500, data, ckpt_dir, resume=False)
        model = run_session("session-2", group, None, 3000, data, ckpt_dir, resume=True)
    mae_kw, aep = evaluate(model, data[2], data[3])
    print(f"final: val_mae {mae_kw:.1f} kW ({mae_kw / RATED_KW * 100:.2f} % of rated), energy_err {aep:.2f} %")


if __name__ == "__main__":
    main()
