"""Lumber kiln: predict the final moisture content (% MC) of a board charge.

Schedule-free AdamW (Defazio et al., 2024) written by hand as an
mlx.optimizers.Optimizer subclass.  The model holds the interpolated point y
while training; evaluation swaps in the averaged point x kept in the
optimizer state.  The learning rate warms up linearly from exactly 0 and then
stays constant (no decay schedule).  The run stops half way, writes a
checkpoint, rebuilds everything from disk and carries on.
"""

import json
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_unflatten


class ScheduleFreeAdamW(optim.Optimizer):
    def __init__(self, learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["z"] = mx.array(parameter)
        state["x"] = mx.array(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_gradients(self, gradients, parameters):
        if not self._initialized:
            self.init(gradients)
        lr = self._schedulers["learning_rate"](self.step) if "learning_rate" in self._schedulers else self.learning_rate
        lr = mx.array(lr, dtype=mx.float32)
        total = self.state.get("lr_sq_sum", mx.array(0.0)) + lr * lr
        self.state["lr_sq_sum"] = total
        self.state["ckp1"] = mx.where(total > 0, (lr * lr) / mx.maximum(total, 1e-30), 0.0)
        self.state["learning_rate"] = lr
        self.state["step"] = self.step + 1
        return tree_map(self.apply_single, gradients, parameters, self.state)

    def apply_single(self, gradient, parameter, state):
        b1, b2 = self.betas
        lr = self.learning_rate.astype(gradient.dtype)
        t = self.step.astype(mx.float32)
        c = self.state["ckp1"].astype(gradient.dtype)
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        denom = mx.sqrt(v / (1 - b2**t)) + self.eps
        z = state["z"] - lr * (gradient / denom + self.weight_decay * parameter)
        x = (1 - c) * state["x"] + c * z
        state["v"] = v
        state["z"] = z
        state["x"] = x
        return (1 - b1) * z + b1 * x

    def averaged(self, parameters):
        """The x point for every parameter (what gets evaluated)."""
        return tree_map(lambda p, s: s["x"], parameters, self.state)


def make_kiln_data(n, rng):
    mc0 = rng.uniform(35, 95, n)            # green moisture content %
    thick = rng.uniform(19, 64, n)          # board thickness mm
    dens = rng.uniform(0.38, 0.78, n)       # basic density g/cm3
    dry_bulb = rng.uniform(45, 82, n)       # mean dry-bulb degC
    depression = rng.uniform(3, 25, n)      # wet-bulb depression degC
    air = rng.uniform(1.0, 4.0, n)          # air velocity m/s
    hours = rng.uniform(60, 400, n)         # time in kiln
    rate = (0.004 * (dry_bulb - 30) * (1 + 0.045 * depression) * np.sqrt(air)
            / (thick / 25.0) ** 1.6 / (dens / 0.5) ** 1.2)
    emc = 4.0 + 14.0 * np.exp(-depression / 8.0)   # equilibrium MC
    final = emc + (mc0 - emc) * np.exp(-rate * hours)
    final = final + rng.normal(0, 0.6, n)
    X = np.stack([mc0, thick, dens, dry_bulb, depression, air, hours], 1)
    return X.astype(np.float32), final.astype(np.float32)


class KilnNet(nn.Module):
    def __init__(self, d_in=7, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def rmse_pct(model, X, y, y_sd):
    pred = model(X)
    return float(mx.sqrt(mx.mean(mx.square(pred - y)))) * y_sd


def evaluate_both(model, opt, X, y, y_sd):
    y_point = model.trainable_parameters()
    r_y = rmse_pct(model, X, y, y_sd)
    model.update(opt.averaged(y_point))
    r_x = rmse_pct(model, X, y, y_sd)
    model.update(y_point)
    return r_x, r_y


def run_session(name, model, opt, start, stop, data, rng, log_every=200):
    Xtr, ytr, Xva, yva, y_sd = data
    vg = nn.value_and_grad(model, loss_fn)
    n = Xtr.shape[0]
    window = []
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, 128))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        s = step + 1
        if s == 1 or s % log_every == 0:
            r_x, r_y = evaluate_both(model, opt, Xva, yva, y_sd)
            print(f"kiln[{name}] step {s:4d}  lr {float(opt.state['learning_rate']):.2e}"
                  f"  train_mse(y) {np.mean(window):.4f}"
                  f"  val_rmse x {r_x:5.2f} %MC  y {r_y:5.2f} %MC", flush=True)
            window = []


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    X, y = make_kiln_data(12000, rng)
    Xtr_np, ytr_np, Xva_np, yva_np = X[:10000], y[:10000], X[10000:], y[10000:]
    mu, sd = Xtr_np.mean(0), Xtr_np.std(0)
    y_mu, y_sd = float(ytr_np.mean()), float(ytr_np.std())
    Xtr = mx.array((Xtr_np - mu) / sd)
    Xva = mx.array((Xva_np - mu) / sd)
    ytr = mx.array((ytr_np - y_mu) / y_sd)
    yva = mx.array((yva_np - y_mu) / y_sd)
    base = float(np.sqrt(np.mean((yva_np - y_mu) ** 2)))
    print(f"kiln: 10000 train / 2000 val charges, predict-mean rmse {base:.2f} %MC,"
          f" sensor noise 0.60 %MC")
    data = (Xtr, ytr, Xva, yva, y_sd)

    warm = optim.linear_schedule(0.0, 2e-3, 150)
    sched = optim.join_schedules([warm, lambda s: mx.array(2e-3)], [150])

    model = KilnNet()
    opt = ScheduleFreeAdamW(learning_rate=sched, weight_decay=1e-4)
    run_session("A", model, opt, 0, 1200, data, rng)

    with tempfile.TemporaryDirectory() as tmp:
        model.save_weights(os.path.join(tmp, "kiln_y.safetensors"))
        flat = dict(tree_flatten(opt.state))
        mx.save_safetensors(os.path.join(tmp, "kiln_opt.safetensors"), flat)
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump({"step": 1200}, f)
        before_x, before_y = evaluate_both(model, opt, Xva, yva, y_sd)
        del model, opt

        model = KilnNet()
        model.load_weights(os.path.join(tmp, "kiln_y.safetensors"))
        opt = ScheduleFreeAdamW(learning_rate=sched, weight_decay=1e-4)
        opt.init(model.trainable_parameters())
        loaded = mx.load(os.path.join(tmp, "kiln_opt.safetensors"))
        opt.state = tree_unflatten(list(loaded.items()))
        with open(os.path.join(tmp, "meta.json")) as f:
            start = json.load(f)["step"]
        after_x, after_y = evaluate_both(model, opt, Xva, yva, y_sd)
        print(f"kiln: checkpoint at step {start} reloaded into fresh objects,"
              f" val rmse x {before_x:.3f} -> {after_x:.3f}, y {before_y:.3f} -> {after_y:.3f}")

    run_session("B", model, opt, start, 2400, data, rng)
    final_x, final_y = evaluate_both(model, opt, Xva, yva, y_sd)
    within = None
    y_point = model.trainable_parameters()
    model.update(opt.averaged(y_point))
    err = np.abs(np.array(model(Xva)) * y_sd + y_mu - yva_np)
    model.update(y_point)
    within = 100.0 * float(np.mean(err < 1.0))
    print(f"kiln: done in {time.time() - t0:.1f}s  final val rmse x {final_x:.2f} %MC"
          f" (y {final_y:.2f}), within 1 %MC: {within:.1f}%, baseline {base:.2f} %MC")


if __name__ == "__main__":
    main()
