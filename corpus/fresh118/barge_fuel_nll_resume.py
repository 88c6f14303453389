"""Canal barge diesel burn (litres / hour) with a heteroscedastic Gaussian head.

The run is split in two sessions like on the shared workstation: session 1 trains,
writes a checkpoint (weights + optimizer state + meta) and exits its scope; session 2
builds everything from scratch, loads the checkpoint and carries on.
The loss is the Gaussian negative log-likelihood on the standardised target, so it
goes below zero once the predicted spread is narrower than the data's unit variance.
cover90 is the share of validation trips inside the predicted 90% interval: it should
settle near 90%, not climb to 100%.
"""
import json
import logging
import math
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(name)s] %(message)s",
                    datefmt="%H:%M:%S")


def make_trips(n, rng):
    cargo = rng.uniform(20, 600, n)            # tonnes
    current = rng.normal(0.0, 0.6, n)          # km/h against the barge (+) or with it (-)
    locks = rng.poisson(1.5, n).astype(float)  # locks per hour of the leg
    wind = rng.gamma(2.0, 2.5, n)              # m/s
    fouling = rng.uniform(0, 400, n)           # days since hull clean
    base = 4.0 + 0.012 * cargo + 2.2 * np.maximum(current, 0) + 1.1 * locks
    base *= 1.0 + 0.0009 * fouling
    sd = 0.12 + 0.035 * wind + 0.0008 * cargo     # gusty days and heavy loads are less predictable
    burn = base + sd * rng.normal(size=n)
    X = np.stack([np.log(cargo), current, locks, np.log1p(wind), fouling / 100.0], 1)
    return X.astype(np.float32), burn.astype(np.float32)


class BurnNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                   nn.Linear(hidden, hidden), nn.SiLU())
        self.mean = nn.Linear(hidden, 1)
        self.log_var = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean(h).squeeze(-1), self.log_var(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, lv = model(x)
    return mx.mean(0.5 * (lv + (y - mu) ** 2 * mx.exp(-lv)) + 0.5 * math.log(2 * math.pi))


def evaluate(model, Xv, yv, y_sd):
    mu, lv = model(Xv)
    nll = gaussian_nll(model, Xv, yv)
    rmse = mx.sqrt(mx.mean((mu - yv) ** 2)) * y_sd
    half = 1.6449 * mx.exp(0.5 * lv)
    cover = mx.mean((mx.abs(yv - mu) <= half).astype(mx.float32))
    mx.eval(nll, rmse, cover)
    return nll.item(), rmse.item(), 100.0 * cover.item()


def build(d_in, steps_total):
    model = BurnNet(d_in)
    sched = optim.cosine_decay(3e-3, steps_total, end=1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def run_epochs(tag, model, opt, data, first_epoch, n_epochs, batch, rng, log):
    Xt, yt, Xv, yv, y_sd = data
    step_fn = nn.value_and_grad(model, gaussian_nll)
    n = Xt.shape[0]
    for ep in range(first_epoch, first_epoch + n_epochs):
        perm = rng.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = step_fn(model, Xt[idx], yt[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        nll, rmse, cov = evaluate(model, Xv, yv, y_sd)
        log.info("ep %02d train_nll=%+.4f val_nll=%+.4f rmse=%.3f L/h cover90=%.1f%% lr=%.2e",
                 ep, tot / cnt, nll, rmse, cov, opt.learning_rate.item())


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    Xtr, btr = make_trips(6000, rng)
    Xva, bva = make_trips(1500, rng)
    mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
    y_mu, y_sd = float(btr.mean()), float(btr.std())
    data = (mx.array((Xtr - mu_x) / sd_x), mx.array((btr - y_mu) / y_sd),
            mx.array((Xva - mu_x) / sd_x), mx.array((bva - y_mu) / y_sd), y_sd)
    batch, epochs_per_session = 64, 6
    steps_total = 2 * epochs_per_session * (6000 // batch)
    ckpt_dir = tempfile.mkdtemp(prefix="barge_ckpt_")

    # ---------------- session 1 ----------------
    log = logging.getLogger("session1")
    model, opt = build(5, steps_total)
    mx.eval(model.parameters())
    _, g = nn.value_and_grad(model, gaussian_nll)(model, data[0][:64], data[1][:64])
    leaves = tree_flatten(g)
    dead = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    log.info("gradient check: %d leaves, %d with zero gradient %s", len(leaves), len(dead), dead)
    log.info("val before training: nll=%+.4f rmse=%.3f L/h cover90=%.1f%%", *evaluate(model, *data[2:]))
    run_epochs("s1", model, opt, data, 1, epochs_per_session, batch, rng, log)
    model.save_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    mx.save_safetensors(os.path.join(ckpt_dir, "optim.safetensors"), dict(tree_flatten(opt.state)))
    saved_nll = evaluate(model, *data[2:])[0]
    with open(os.path.join(ckpt_dir, "meta.json"), "w") as f:
        json.dump({"epoch": epochs_per_session, "val_nll": saved_nll}, f)
    log.info("checkpoint written to %s", ckpt_dir)
    del model, opt

    # ---------------- session 2 ----------------
    log = logging.getLogger("session2")
    with open(os.path.join(ckpt_dir, "meta.json")) as f:
        meta = json.load(f)
    model, opt = build(5, steps_total)
    model.load_weights(os.path.join(ckpt_dir, "weights.safetensors"))
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "optim.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
    nll0 = evaluate(model, *data[2:])[0]
    log.info("resumed at epoch %d, opt step %d: val_nll=%+.4f (saved %+.4f)",
             meta["epoch"], opt.step.item(), nll0, meta["val_nll"])
    run_epochs("s2", model, opt, data, meta["epoch"] + 1, epochs_per_session, batch, rng, log)
    nll, rmse, cov = evaluate(model, *data[2:])
    log.info("final: val_nll=%+.4f rmse=%.3f L/h cover90=%.1f%% (target sd %.3f L/h)", nll, rmse, cov, y_sd)
    shutil.rmtree(ckpt_dir)


if __name__ == "__main__":
    main()
