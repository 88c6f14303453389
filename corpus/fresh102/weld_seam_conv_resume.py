"""Weld seam inspection from arc-sensor traces.

Three classes per seam: 0 = good, 1 = porosity, 2 = lack of fusion.
Each seam is 48 samples of (arc current, arc voltage, wire-feed speed), made up
by a small simulator below.  A 1-D conv net (MLX Conv1d is channels-last, so the
batches are (N, L, C)) is trained in two sessions: the first one writes a
checkpoint (weights + optimizer state) into a temp dir and stops, the second one
builds fresh objects, loads that checkpoint and carries on to the end.
"""

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

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s %(name)s: %(message)s")
log = logging.getLogger("weldqa")

SEQ = 48
N_TRAIN, N_VAL = 3000, 1000
BATCH = 64
EPOCHS_SESSION_1 = 3
EPOCHS_TOTAL = 8
PEAK_LR = 2e-3


def simulate_seams(n, rng):
    t = np.linspace(0.0, 1.0, SEQ, dtype=np.float32)
    y = rng.choice(3, size=n, p=[0.5, 0.25, 0.25])
    current = 180 + 6 * rng.standard_normal((n, 1)) + 3 * np.sin(2 * np.pi * 6 * t)[None]
    voltage = 24 + 0.6 * rng.standard_normal((n, 1)) + 0.3 * np.sin(2 * np.pi * 6 * t + 0.7)[None]
    wire = 8 + 0.3 * rng.standard_normal((n, 1)) + np.zeros_like(t)[None]
    # porosity: short voltage spikes (gas pockets) at random places
    for i in np.where(y == 1)[0]:
        for c in rng.integers(4, SEQ - 4, size=rng.integers(2, 5)):
            voltage[i, c : c + 2] += rng.uniform(0.6, 1.4)
            current[i, c : c + 2] -= rng.uniform(3.0, 7.0)
    # lack of fusion: a slow current sag over a stretch of the seam, wire feed drifts up
    for i in np.where(y == 2)[0]:
        s = rng.integers(0, SEQ // 2)
        w = rng.integers(10, SEQ // 2)
        current[i, s : s + w] -= rng.uniform(2.0, 6.0)
        wire[i, s : s + w] += rng.uniform(0.05, 0.25)
    x = np.stack([current, voltage, wire], axis=-1)
    x += rng.standard_normal(x.shape).astype(np.float32) * np.array([4.0, 0.5, 0.2])
    return x.astype(np.float32), y.astype(np.int32)


class SeamNet(nn.Module):
    def __init__(self, channels=3, width=24, classes=3):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, width, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(width, width, kernel_size=5, padding=2)
        self.conv3 = nn.Conv1d(width, width, kernel_size=3, padding=1)
        self.head = nn.Linear(2 * width, classes)

    def __call__(self, x):
        h = nn.relu(self.conv1(x))
        h = nn.relu(self.conv2(h))
        h = nn.relu(self.conv3(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(pooled)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    total, correct = 0.0, 0
    for s in range(0, x.shape[0], 500):
        logits = model(x[s : s + 500])
        total += nn.losses.cross_entropy(logits, y[s : s + 500], reduction="sum").item()
        correct += (mx.argmax(logits, axis=1) == y[s : s + 500]).sum().item()
    return total / x.shape[0], 100.0 * correct / x.shape[0]


def make_optimizer(steps_total):
    sched = optim.cosine_decay(PEAK_LR, steps_total, 1e-5)
    return optim.AdamW(learning_rate=sched, weight_decay=1e-3)


def run_epochs(model, opt, first_epoch, last_epoch, xtr, ytr, xva, yva, rng, session):
    vg = nn.value_and_grad(model, loss_fn)
    n_batches = N_TRAIN // BATCH
    for epoch in range(first_epoch, last_epoch + 1):
        t0 = time.perf_counter()
        perm = rng.permutation(N_TRAIN)
        run_sum = 0.0
        for b in range(n_batches):
            idx = mx.array(perm[b * BATCH : (b + 1) * BATCH])
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_sum += loss.item()
        vloss, vacc = evaluate(model, xva, yva)
        log.info(
            "session %d epoch %2d/%d  step %4d  lr %.2e  train_ce %.4f  val_ce %.4f  val_acc %.1f%%  (%.1fs)",
            session, epoch, EPOCHS_TOTAL, int(opt.step.item()), opt.learning_rate.item(),
            run_sum / n_batches, vloss, vacc, time.perf_counter() - t0,
        )
    return vloss, vacc


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = simulate_seams(N_TRAIN, rng)
    xva, yva = simulate_seams(N_VAL, rng)
    mu, sd = xtr.mean(axis=(0, 1)), xtr.std(axis=(0, 1))
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    xtr, ytr, xva, yva = mx.array(xtr), mx.array(ytr), mx.array(xva), mx.array(yva)
    log.info("seams: train %d, val %d, class shares %s", N_TRAIN, N_VAL,
             np.round(np.bincount(np.array(ytr), minlength=3) / N_TRAIN, 3).tolist())

    steps_total = EPOCHS_TOTAL * (N_TRAIN // BATCH)
    ckpt_dir = tempfile.mkdtemp(prefix="weldqa_")
    w_path = os.path.join(ckpt_dir, "seamnet.safetensors")
    o_path = os.path.join(ckpt_dir, "adamw_state.safetensors")

    # ---- session 1 -------------------------------------------------------
    model = SeamNet()
    mx.eval(model.parameters())
    opt = make_optimizer(steps_total)

    _, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:BATCH], ytr[:BATCH])
    flat = tree_flatten(g0)
    zero = [k for k, g in flat if float(mx.abs(g).max().item()) == 0.0]
    log.info("grad check: %d leaves, zero-gradient leaves: %s", len(flat), zero or "none")
    vloss0, vacc0 = evaluate(model, xva, yva)
    log.info("untrained: val_ce %.4f (ln 3 = %.4f)  val_acc %.1f%%", vloss0, np.log(3), vacc0)

    v1, a1 = run_epochs(model, opt, 1, EPOCHS_SESSION_1, xtr, ytr, xva, yva, rng, 1)
    model.save_weights(w_path)
    mx.save_safetensors(o_path, dict(tree_flatten(opt.state)))
    log.info("checkpoint written to %s (step %d)", ckpt_dir, int(opt.step.item()))
    del model, opt

    # ---- session 2: fresh objects, restore, continue ----------------------
    model = SeamNet()
    model.load_weights(w_path)
    opt = make_optimizer(steps_total)
    opt.state = tree_unflatten(list(mx.load(o_path).items()))
    mx.eval(model.parameters(), opt.state)
    v_restored, a_restored = evaluate(model, xva, yva)
    log.info("restored: step %d  val_ce %.4f (before save %.4f)  val_acc %.1f%%",
             int(opt.step.item()), v_restored, v1, a_restored)

    vloss, vacc = run_epochs(model, opt, EPOCHS_SESSION_1 + 1, EPOCHS_TOTAL,
                             xtr, ytr, xva, yva, rng, 2)
    log.info("done: val_ce %.4f  val_acc %.1f%%  final lr %.2e", vloss, vacc, opt.learning_rate.item())
    shutil.rmtree(ckpt_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
