"""Parachute canopy descent rate with an uncertainty head, trained in two sessions.

Inputs (made-up field log of cargo drops): canopy area, payload mass, air density
at the drop zone, gust index, canopy age (number of packs), release altitude.
Target: steady descent rate (m/s).  The measurement scatter grows with the gust
index, so the model predicts a mean AND a log-variance and is fitted with the
Gaussian negative log-likelihood (which goes below zero once the predicted
spread is small).

Session 1 trains for a while, writes weights + optimizer state + its step count
to a temporary folder and ends.  Session 2 rebuilds everything from scratch,
loads that checkpoint and carries on.  The step is compiled with the model and
optimizer state declared as inputs/outputs.  Output is CSV on stdout.
"""

import csv
import json
import math
import os
import sys
import tempfile
from functools import partial

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LOG2PI = math.log(2.0 * math.pi)
Z90 = 1.6449


def simulate(rng, n):
    area = rng.uniform(20.0, 80.0, n)          # m^2
    mass = rng.uniform(40.0, 220.0, n)         # kg
    rho = rng.uniform(0.95, 1.22, n)           # kg/m^3
    gust = rng.uniform(0.0, 1.0, n)
    age = rng.integers(0, 60, n).astype(np.float64)
    alt = rng.uniform(300.0, 1500.0, n)        # m
    cd = 1.3 - 0.003 * age                     # porous old canopies drag less
    v = np.sqrt(2.0 * mass * 9.81 / (rho * cd * area))
    v = v * (1.0 + 0.00004 * (alt - 900.0))
    sd = 0.05 + 0.6 * gust ** 2
    y = v + rng.normal(size=n) * sd
    x = np.stack([area, mass, rho, gust, age, alt], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


class DescentNet(nn.Module):
    def __init__(self, d_in=6, hidden=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(),
                                   nn.Linear(hidden, hidden), nn.GELU())
        self.mean_head = nn.Linear(hidden, 1)
        self.logvar_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return 0.5 * mx.mean(logvar + (y - mu) ** 2 * mx.exp(-logvar) + LOG2PI)


class Session:
    """One training session; holds its own model, optimizer and compiled step."""

    def __init__(self, cfg, data):
        self.cfg = cfg
        self.data = data
        self.model = DescentNet()
        self.opt = optim.Adamax(learning_rate=cfg["lr"])
        self.step_no = 0

    def restore(self, folder):
        self.model.load_weights(os.path.join(folder, "canopy_weights.safetensors"))
        flat = mx.load(os.path.join(folder, "canopy_opt.safetensors"))
        self.opt.state = tree_unflatten(list(flat.items()))
        with open(os.path.join(folder, "canopy_meta.json")) as f:
            self.step_no = json.load(f)["step"]

    def checkpoint(self, folder):
        self.model.save_weights(os.path.join(folder, "canopy_weights.safetensors"))
        mx.save_safetensors(os.path.join(folder, "canopy_opt.safetensors"),
                            dict(tree_flatten(self.opt.state)))
        with open(os.path.join(folder, "canopy_meta.json"), "w") as f:
            json.dump({"step": self.step_no}, f)

    def build_step(self):
        self.opt.init(self.model.trainable_parameters())
        state = [self.model.state, self.opt.state]
        loss_and_grad = nn.value_and_grad(self.model, gaussian_nll)

        @partial(mx.compile, inputs=state, outputs=state)
        def step(x, y):
            loss, grads = loss_and_grad(self.model, x, y)
            self.opt.update(self.model, grads)
            return loss

        self.state = state
        return step

    def evaluate(self):
        xv, yv = self.data["val"]
        mu, logvar = self.model(mx.array(xv))
        nll = gaussian_nll(self.model, mx.array(xv), mx.array(yv)).item()
        mu = np.array(mu)
        sd = np.exp(0.5 * np.array(logvar))
        rmse = float(np.sqrt(np.mean((mu - yv) ** 2)))
        inside = np.abs(yv - mu) <= Z90 * sd
        return nll, rmse, 100.0 * float(inside.mean())

    def run(self, n_steps, rng, writer, tag):
        xt, yt = self.data["train"]
        step = self.build_step()
        bs = self.cfg["batch"]
        running, count = 0.0, 0
        for _ in range(n_steps):
            idx = rng.integers(0, len(yt), bs)
            loss = step(mx.array(xt[idx]), mx.array(yt[idx]))
            mx.eval(self.state)
            running += loss.item()
            count += 1
            self.step_no += 1
            if self.step_no % self.cfg["every"] == 0:
                nll, rmse, cover = self.evaluate()
                writer.writerow([tag, self.step_no, f"{running / count:.4f}",
                                 f"{nll:.4f}", f"{rmse:.4f}", f"{cover:.1f}"])
                sys.stdout.flush()
                running, count = 0.0, 0


def main():
    rng = np.random.default_rng(5)
    x_tr, y_tr = simulate(rng, 8000)
    x_va, y_va = simulate(rng, 2000)
    mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
    data = {"train": ((x_tr - mu_x) / sd_x, y_tr), "val": ((x_va - mu_x) / sd_x, y_va)}
    cfg = {"lr": 2e-3, "batch": 128, "every": 150}

    writer = csv.writer(sys.stdout)
    writer.writerow(["session", "step", "train_nll", "val_nll", "val_rmse_mps", "val_cover90_pct"])

    with tempfile.TemporaryDirectory() as ckpt_dir:
        mx.random.seed(5)
        first = Session(cfg, data)
        first.run(1200, np.random.default_rng(100), writer, "s1")
        first.checkpoint(ckpt_dir)
        del first

        second = Session(cfg, data)  # fresh objects, as after a restart
        second.restore(ckpt_dir)
        second.run(1200, np.random.default_rng(200), writer, "s2")
        nll, rmse, cover = second.evaluate()
        print(f"# done at step {second.step_no}: val_nll={nll:.4f} rmse={rmse:.4f} m/s "
              f"cover90={cover:.1f}%")


if __name__ == "__main__":
    main()
