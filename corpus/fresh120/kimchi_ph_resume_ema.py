"""Kimchi fermentation: predict the pH of a batch after N days in the fridge.

Training runs as two "sessions" like on a laptop that gets closed overnight:
session 1 trains a few epochs and writes a checkpoint (weights + Adam state +
step counter) into a scratch folder; session 2 builds everything fresh, reads
the checkpoint back and carries on. The running loss is an exponential moving
average that starts from 0 (no bias correction), so the first logged values
are small and climb before they fall - that's just the EMA warming up.
"""
import json
import logging
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kimchi")

FEATURES = ["salt_pct", "fridge_c", "days", "garlic_g", "sugar_g", "starter_ml", "radish_share"]


def make_batches(n, rng):
    salt = rng.uniform(1.5, 4.0, n)
    temp = rng.uniform(1.0, 12.0, n)
    days = rng.uniform(0.0, 40.0, n)
    garlic = rng.uniform(0.0, 60.0, n)
    sugar = rng.uniform(0.0, 30.0, n)
    starter = rng.choice([0.0, 25.0, 50.0], n)
    radish = rng.uniform(0.0, 0.6, n)
    # made-up souring law: rate grows with temperature, sugar and starter,
    # shrinks with salt; pH falls from ~6.2 toward a floor of ~3.6
    rate = 0.012 * np.exp(0.11 * temp) * (1 + 0.02 * sugar) * (1 + 0.01 * starter) / (0.5 * salt)
    rate *= 1 + 0.004 * garlic
    eff_days = days + 0.08 * starter
    ph = 3.6 + 2.6 * np.exp(-rate * eff_days) + 0.15 * radish + rng.normal(0, 0.05, n)
    X = np.stack([salt, temp, days, garlic, sugar, starter, radish], axis=1).astype(np.float32)
    return X, ph.astype(np.float32)


class PhNet(nn.Module):
    def __init__(self, d_in, width=128):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model, X, y_std, y_mu, y_sd):
    pred = np.array(model(X)) * y_sd + y_mu
    true = np.array(y_std) * y_sd + y_mu
    err = np.abs(pred - true)
    return float(np.sqrt(np.mean(err ** 2))), float(100.0 * np.mean(err < 0.1))


def save_checkpoint(folder, model, opt, step, ema):
    model.save_weights(os.path.join(folder, "weights.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"), flat)
    with open(os.path.join(folder, "progress.json"), "w") as f:
        json.dump({"step": step, "ema": ema}, f)


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "weights.safetensors"))
    state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.safetensors")).items()))
    opt.state = state
    with open(os.path.join(folder, "progress.json")) as f:
        prog = json.load(f)
    return prog["step"], prog["ema"]


def run_session(name, epochs, data, folder, resume, batch=32, lr=1e-3, beta=0.98, seed=0):
    Xtr, ytr, Xte, yte, y_mu, y_sd = data
    mx.random.seed(seed)
    model = PhNet(Xtr.shape[1])
    opt = optim.Adam(learning_rate=lr)
    step, ema = 0, 0.0
    if resume:
        step, ema = load_checkpoint(folder, model, opt)
        log.info("session=%s resumed step=%d ema=%.4f opt_step=%d", name, step, ema,
                 int(opt.state["step"].item()))
    mx.eval(model.parameters(), opt.state)
    vg = nn.value_and_grad(model, loss_fn)
    rng = np.random.default_rng(100 + step)
    n = Xtr.shape[0]

    if not resume:
        _, g = vg(model, Xtr[:batch], ytr[:batch])
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max().item()) == 0.0]
        log.info("session=%s grad_check leaves=%d zero=%s", name, len(leaves), zero)
        rmse, hit = evaluate(model, Xte, yte, y_mu, y_sd)
        log.info("session=%s untrained test_rmse_ph=%.3f within_0.1=%.1f%%", name, rmse, hit)

    t0 = time.time()
    for ep in range(epochs):
        perm = mx.array(rng.permutation(n))
        for i in range(0, n - batch + 1, batch):
            idx = perm[i:i + batch]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            ema = beta * ema + (1 - beta) * loss.item()
            step += 1
            if step % 250 == 0 or step in (5, 10, 20, 40, 80):
                log.info("session=%s step=%d ema_loss=%.4f", name, step, ema)
        rmse, hit = evaluate(model, Xte, yte, y_mu, y_sd)
        log.info("session=%s epoch_done step=%d test_rmse_ph=%.3f within_0.1=%.1f%% secs=%.1f",
                 name, step, rmse, hit, time.time() - t0)
    save_checkpoint(folder, model, opt, step, ema)
    log.info("session=%s checkpoint written files=%s", name, sorted(os.listdir(folder)))
    return step


def main():
    rng = np.random.default_rng(7)
    Xtr, ytr = make_batches(16000, rng)
    Xte, yte = make_batches(3000, rng)
    x_mu, x_sd = Xtr.mean(0), Xtr.std(0)
    y_mu, y_sd = float(ytr.mean()), float(ytr.std())
    data = (mx.array((Xtr - x_mu) / x_sd), mx.array((ytr - y_mu) / y_sd),
            mx.array((Xte - x_mu) / x_sd), mx.array((yte - y_mu) / y_sd), y_mu, y_sd)
    log.info("data train=%d test=%d features=%s ph_mean=%.2f ph_sd=%.2f noise_sd=0.05",
             len(ytr), len(yte), ",".join(FEATURES), y_mu, y_sd)
    base = float(np.sqrt(np.mean((yte - y_mu) ** 2)))
    log.info("baseline predict-mean test_rmse_ph=%.3f", base)

    folder = tempfile.mkdtemp(prefix="kimchi_ckpt_")
    try:
        run_session("fridge-1", 5, data, folder, resume=False)
        run_session("fridge-2", 5, data, folder, resume=True)
    finally:
        shutil.rmtree(folder)
    log.info("done checkpoint folder removed")


if __name__ == "__main__":
    main()
