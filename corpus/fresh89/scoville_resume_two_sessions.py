"""Hot-sauce heat panel: predict the tasting panel's heat score (0-10) of a sauce batch.

Trained in two "sessions" as if the laptop went to sleep in between: session 1 trains
for a few epochs and writes a checkpoint (weights, optimizer state, progress) to a
scratch directory; session 2 builds everything from scratch, restores that checkpoint
and carries on with the same cosine schedule.

The first layer maps the 5 pepper fractions to lab-measured capsaicinoid profiles. It is
loaded from the lab sheet and frozen on purpose: only the rest of the net trains.
"""
import json
import logging
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

PEPPERS = ["jalapeno", "serrano", "habanero", "ghost", "scorpion"]
# log10 Scoville of each pepper and a crude "burn profile" (front/back of tongue, linger)
LAB_SHEET = np.array(
    [
        [3.9, 0.8, 0.2, 0.1],
        [4.3, 0.7, 0.3, 0.2],
        [5.4, 0.4, 0.7, 0.6],
        [6.0, 0.2, 0.9, 0.9],
        [6.2, 0.2, 1.0, 1.0],
    ],
    dtype=np.float32,
)

EPOCHS_SESSION1 = 7
EPOCHS_TOTAL = 14
BATCH = 48


def make_batches_of_sauce(n, rng):
    mix = rng.dirichlet(np.full(5, 0.6), size=n).astype(np.float32)  # pepper fractions
    pepper_share = rng.uniform(0.05, 0.45, size=(n, 1)).astype(np.float32)  # of the bottle
    vinegar = rng.uniform(0.05, 0.35, size=(n, 1)).astype(np.float32)
    sugar = rng.uniform(0.0, 0.2, size=(n, 1)).astype(np.float32)
    aged = rng.uniform(0, 180, size=(n, 1)).astype(np.float32) / 180.0
    sco = mix @ LAB_SHEET[:, :1]  # mixture log-Scoville
    linger = mix @ LAB_SHEET[:, 3:4]
    heat = (
        1.9 * (sco - 3.8)
        + 6.0 * pepper_share
        + 1.2 * linger * (1 + aged)
        - 7.0 * sugar
        - 2.0 * vinegar * (1 - aged)
        + 0.9 * np.tanh(3 * (pepper_share - 0.2)) * (sco - 4.5)
    )
    heat = np.clip(heat, 0.0, 10.0) + rng.normal(0, 0.35, size=heat.shape).astype(np.float32)
    x = np.concatenate([mix, pepper_share, vinegar, sugar, aged], axis=1)
    return x.astype(np.float32), heat.astype(np.float32)


class HeatModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.lab = nn.Linear(5, 4, bias=False)
        self.lab.weight = mx.array(LAB_SHEET.T / 3.0)  # (4, 5) fixed from the lab sheet
        self.lab.freeze()
        self.body = nn.Sequential(nn.Linear(4 + 4, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU())
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        profile = self.lab(x[:, :5])
        h = mx.concatenate([profile, x[:, 5:]], axis=1)
        return self.head(self.body(h))


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def build(steps_total):
    model = HeatModel()
    sched = optim.cosine_decay(3e-3, steps_total, end=1e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return model, opt


def rmse(model, x, y):
    return math.sqrt(nn.losses.mse_loss(model(x), y).item())


def run_epochs(model, opt, xtr, ytr, xte, yte, first_epoch, last_epoch, rng, log):
    step_fn = nn.value_and_grad(model, mse)
    n = xtr.shape[0]
    for epoch in range(first_epoch, last_epoch + 1):
        t0 = time.time()
        order = rng.permutation(n)
        total, count = 0.0, 0
        for s in range(0, n - BATCH + 1, BATCH):
            idx = mx.array(order[s : s + BATCH])
            loss, grads = step_fn(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item()
            count += 1
        lr = opt.learning_rate.item()
        log.info(
            "epoch %2d  step %4d  lr %.2e  train_mse %.4f  test_rmse %.3f points  (%.1fs)",
            epoch, int(opt.state["step"].item()), lr, total / count, rmse(model, xte, yte),
            time.time() - t0,
        )


def save_checkpoint(folder, model, opt, epoch, rng):
    model.save_weights(os.path.join(folder, "model.safetensors"))
    mx.save_safetensors(os.path.join(folder, "optimizer.safetensors"), dict(tree_flatten(opt.state)))
    with open(os.path.join(folder, "progress.json"), "w") as fh:
        json.dump({"epoch": epoch, "rng": rng.bit_generator.state}, fh)


def load_checkpoint(folder, model, opt):
    model.load_weights(os.path.join(folder, "model.safetensors"))
    model.lab.freeze()  # load_weights does not touch the frozen flag, but be explicit
    opt.state = tree_unflatten(list(mx.load(os.path.join(folder, "optimizer.safetensors")).items()))
    with open(os.path.join(folder, "progress.json")) as fh:
        meta = json.load(fh)
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    return meta["epoch"], rng


def main():
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    data_rng = np.random.default_rng(2024)
    xtr_np, ytr_np = make_batches_of_sauce(20000, data_rng)
    xte_np, yte_np = make_batches_of_sauce(1500, data_rng)
    xtr, ytr, xte, yte = map(mx.array, (xtr_np, ytr_np, xte_np, yte_np))
    steps_total = EPOCHS_TOTAL * (xtr.shape[0] // BATCH)
    ckpt_dir = tempfile.mkdtemp(prefix="sauce_ckpt_")

    # ---------------- session 1 ----------------
    log = logging.getLogger("sauce.session1")
    mx.random.seed(7)
    model, opt = build(steps_total)
    frozen_before = np.array(model.lab.weight)
    log.info("batches: train %d test %d, predict-the-mean rmse %.3f points",
             xtr.shape[0], xte.shape[0], float(np.std(yte_np)))
    _, g0 = nn.value_and_grad(model, mse)(model, xtr[:BATCH], ytr[:BATCH])
    leaves = tree_flatten(g0)
    zero = [k for k, g in leaves if float(mx.abs(g).max().item()) == 0.0]
    log.info("trainable leaves %d (lab sheet frozen: %s), zero-gradient leaves %s",
             len(leaves), "lab.weight" not in dict(leaves), zero)
    log.info("untrained test_rmse %.3f points", rmse(model, xte, yte))
    train_rng = np.random.default_rng(11)
    run_epochs(model, opt, xtr, ytr, xte, yte, 1, EPOCHS_SESSION1, train_rng, log)
    save_checkpoint(ckpt_dir, model, opt, EPOCHS_SESSION1, train_rng)
    end_of_session1 = rmse(model, xte, yte)
    log.info("checkpoint written after epoch %d to %s", EPOCHS_SESSION1, ckpt_dir)
    del model, opt

    # ---------------- session 2 ----------------
    log = logging.getLogger("sauce.session2")
    mx.random.seed(99)  # a fresh process would start from other random weights
    model, opt = build(steps_total)
    log.info("fresh model test_rmse %.3f points (before restore)", rmse(model, xte, yte))
    done_epochs, train_rng = load_checkpoint(ckpt_dir, model, opt)
    log.info("restored epoch %d, optimizer step %d, test_rmse %.3f (session 1 ended at %.3f)",
             done_epochs, int(opt.state["step"].item()), rmse(model, xte, yte), end_of_session1)
    run_epochs(model, opt, xtr, ytr, xte, yte, done_epochs + 1, EPOCHS_TOTAL, train_rng, log)
    drift = float(np.abs(np.array(model.lab.weight) - frozen_before).max())
    log.info("done: final test_rmse %.3f points (noise sd 0.35), lab sheet max change %.1e",
             rmse(model, xte, yte), drift)


if __name__ == "__main__":
    main()
