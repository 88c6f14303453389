"""Beer foam stability: predict the foam half-life (seconds) of a poured glass.

Two training sessions.  Session 1 trains a few SGDR cycles and writes a
checkpoint (model weights + Adam state + schedule position) into a temp
folder.  Session 2 starts from a brand-new model/optimizer object, loads that
checkpoint and carries on with the remaining cycles.  The learning rate
follows cosine annealing with warm restarts, so the training loss jumps up a
little at the start of every cycle.
"""
import json
import logging
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s foam | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("foam")

FEATURES = ["hop_iso_alpha_ppm", "protein_mg_l", "co2_vol", "serve_temp_c",
            "glass_nucleated", "abv_pct", "pour_height_cm", "lipid_ppb"]


def make_pours(n, rng):
    iso = rng.uniform(5, 60, n)
    prot = rng.uniform(200, 1200, n)
    co2 = rng.uniform(1.8, 3.2, n)
    temp = rng.uniform(2, 14, n)
    nucl = (rng.random(n) < 0.4).astype(np.float64)
    abv = rng.uniform(3.5, 9.0, n)
    pour = rng.uniform(2, 12, n)
    lipid = rng.gamma(2.0, 40.0, n)
    # made-up law: hop acids and proteins stabilise, lipids and warmth kill foam
    log_t = (3.6 + 0.45 * np.log(iso / 20) + 0.35 * np.log(prot / 500) + 0.25 * (co2 - 2.5)
             - 0.03 * (temp - 6) + 0.2 * nucl - 0.04 * (abv - 5) + 0.03 * pour
             - 0.5 * np.log1p(lipid / 60) + 0.12 * np.tanh((iso - 30) / 10) * nucl)
    half_life = np.exp(log_t + rng.normal(0, 0.08, n))
    X = np.stack([iso, prot, co2, temp, nucl, abv, pour, lipid], 1)
    return X.astype(np.float32), np.log(half_life).astype(np.float32)


class FoamNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


class SGDR:
    """Cosine annealing with warm restarts, cycle length doubles each time."""

    def __init__(self, lr_max, lr_min, first_cycle, mult=2):
        self.lr_max, self.lr_min, self.first, self.mult = lr_max, lr_min, first_cycle, mult

    def __call__(self, step):
        length, start = self.first, 0
        while step >= start + length:
            start += length
            length *= self.mult
        t = (step - start) / length
        return self.lr_min + 0.5 * (self.lr_max - self.lr_min) * (1 + math.cos(math.pi * t)), step == start


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def run_session(name, steps_from, steps_to, ckpt_dir, data, resume):
    Xtr, ytr, Xva, yva, mu, sd, ymu, ysd = data
    mx.random.seed(7)
    model = FoamNet(Xtr.shape[1])
    opt = optim.Adam(learning_rate=1e-3)
    sched = SGDR(lr_max=3e-3, lr_min=2e-5, first_cycle=60)
    if resume:
        model.load_weights(os.path.join(ckpt_dir, "foam_model.safetensors"))
        flat = mx.load(os.path.join(ckpt_dir, "foam_opt.safetensors"))
        opt.state = tree_unflatten(list(flat.items()))
        with open(os.path.join(ckpt_dir, "foam_meta.json")) as f:
            meta = json.load(f)
        assert meta["step"] == steps_from, meta
        log.info("%s: resumed from step %d (last val rmse %.2f s)", name, meta["step"], meta["val_rmse_s"])
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(1000 + steps_from)
    n, bs = Xtr.shape[0], 64
    xtr = mx.array((Xtr - mu) / sd)
    ytr_n = mx.array((ytr - ymu) / ysd)
    xva = mx.array((Xva - mu) / sd)
    window, val_rmse = [], float("nan")
    for step in range(steps_from, steps_to):
        lr, restart = sched(step)
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, bs))
        loss, grads = vg(model, xtr[idx], ytr_n[idx])
        if step == 0:
            flat_g = tree_flatten(grads)
            zero = [k for k, g in flat_g if float(mx.abs(g).max()) == 0.0]
            log.info("gradient check: %d leaves, zero-gradient leaves: %s", len(flat_g), zero or "none")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if restart and step > 0:
            log.info("step %4d  warm restart, lr back to %.2e", step, lr)
        if (step + 1) % 40 == 0:
            pred = model(xva) * ysd + ymu
            err = np.exp(np.array(pred)) - np.exp(yva)
            val_rmse = float(np.sqrt(np.mean(err ** 2)))
            log.info("step %4d  lr %.2e  train mse(z) %.4f  val rmse %.2f s  val mae %.2f s",
                     step + 1, lr, float(np.mean(window)), val_rmse, float(np.mean(np.abs(err))))
            window = []
    if not resume:
        model.save_weights(os.path.join(ckpt_dir, "foam_model.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "foam_opt.safetensors"), dict(tree_flatten(opt.state)))
        with open(os.path.join(ckpt_dir, "foam_meta.json"), "w") as f:
            json.dump({"step": steps_to, "val_rmse_s": val_rmse}, f)
        log.info("%s: checkpoint written at step %d", name, steps_to)
    return val_rmse


def main():
    t0 = time.time()
    rng = np.random.default_rng(42)
    Xtr, ytr = make_pours(6000, rng)
    Xva, yva = make_pours(1500, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    ymu, ysd = ytr.mean(), ytr.std()
    base = float(np.sqrt(np.mean((np.exp(yva) - np.exp(ymu)) ** 2)))
    log.info("pours: %d train / %d val, median half-life %.1f s, constant-guess rmse %.2f s",
             len(ytr), len(yva), float(np.median(np.exp(ytr))), base)
    data = (Xtr, ytr, Xva, yva, mu, sd, ymu, ysd)
    with tempfile.TemporaryDirectory() as d:
        r1 = run_session("session-1", 0, 420, d, data, resume=False)   # cycles of 60 + 120 + 240
        r2 = run_session("session-2", 420, 900, d, data, resume=True)  # one cycle of 480
    log.info("done in %.1fs: val rmse after session 1 %.2f s, after session 2 %.2f s (baseline %.2f s)",
             time.time() - t0, r1, r2, base)


if __name__ == "__main__":
    main()
