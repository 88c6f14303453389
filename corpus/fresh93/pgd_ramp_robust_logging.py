"""Madry-style PGD adversarial training with an epsilon ramp.

Three-class problem on 16 standardised features.  Each training batch is
replaced by its worst case inside an L-inf ball of radius eps found with a few
steps of projected gradient ascent on the input (random start, sign steps,
clip back into the ball).  eps grows linearly from 0 to its final value over
the first epochs, so the adversarial training loss first goes UP while the
attacker gets stronger and only then comes down.

Reports go through the logging module.  Errors are printed as percentages
(lower is better); "rob_err" is the test error under a 10-step PGD attack at
the final eps.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("pgd-train")

N_FEAT, N_CLASS = 16, 3
EPS_FINAL = 0.25
RAMP_EPOCHS = 6
EPOCHS = 16
BATCH = 128
PGD_STEPS_TRAIN = 5
PGD_STEPS_EVAL = 10


def make_data(n, rng, proj, centres):
    y = rng.integers(0, N_CLASS, n)
    latent = centres[y] + 0.9 * rng.standard_normal((n, 4))
    x = np.tanh(latent @ proj) + 0.15 * rng.standard_normal((n, N_FEAT))
    return x.astype(np.float32), y.astype(np.int32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(N_FEAT, 96)
        self.fc2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, N_CLASS)

    def __call__(self, x):
        h = nn.relu(self.fc1(x))
        h = nn.relu(self.fc2(h))
        return self.out(h)


def ce(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def pgd(model, x, y, eps, steps):
    """Worst-case inputs in the L-inf ball of radius eps around x."""
    if eps == 0.0:
        return x
    alpha = 2.5 * eps / steps
    input_grad = mx.grad(lambda xi: ce(model, xi, y))
    delta = mx.random.uniform(-eps, eps, x.shape)
    for _ in range(steps):
        g = input_grad(x + delta)
        delta = mx.clip(delta + alpha * mx.sign(g), -eps, eps)
    return mx.stop_gradient(x + delta)


def error_pct(model, x, y, eps=0.0, steps=0):
    wrong = 0
    for i in range(0, x.shape[0], 512):
        xb, yb = x[i:i + 512], y[i:i + 512]
        xa = pgd(model, xb, yb, eps, steps) if eps > 0 else xb
        wrong += mx.sum(mx.argmax(model(xa), axis=1) != yb).item()
    return 100.0 * wrong / x.shape[0]


def main():
    rng = np.random.default_rng(4)
    mx.random.seed(4)
    proj = rng.standard_normal((4, N_FEAT)).astype(np.float32)
    centres = 1.3 * rng.standard_normal((N_CLASS, 4)).astype(np.float32)
    xtr, ytr = make_data(6000, rng, proj, centres)
    xte, yte = make_data(1500, rng, proj, centres)
    mu, sd = xtr.mean(0), xtr.std(0)
    xtr, xte = (xtr - mu) / sd, (xte - mu) / sd
    xtr, ytr, xte, yte = map(mx.array, (xtr, ytr, xte, yte))

    model = Net()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, ce)

    steps_per_epoch = xtr.shape[0] // BATCH
    t0 = time.perf_counter()
    first = True
    for epoch in range(1, EPOCHS + 1):
        eps = EPS_FINAL * min(1.0, (epoch - 1) / RAMP_EPOCHS)
        order = mx.array(rng.permutation(xtr.shape[0]))
        total, seen = 0.0, 0
        for b in range(steps_per_epoch):
            idx = order[b * BATCH:(b + 1) * BATCH]
            xb, yb = xtr[idx], ytr[idx]
            xa = pgd(model, xb, yb, eps, PGD_STEPS_TRAIN)
            loss, grads = loss_and_grad(model, xa, yb)
            if first:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                assert not dead, dead
                log.info("first step: %d gradient leaves, all non-zero", len(flat))
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            total += loss.item() * BATCH
            seen += BATCH
        msg = "epoch %2d eps %.3f adv_loss %.4f clean_err %5.1f%%" % (
            epoch, eps, total / seen, error_pct(model, xte, yte))
        if epoch % 4 == 0 or epoch == 1:
            msg += " rob_err@%.2f %5.1f%%" % (
                EPS_FINAL, error_pct(model, xte, yte, EPS_FINAL, PGD_STEPS_EVAL))
        log.info("%s (%.0fs)", msg, time.perf_counter() - t0)

    log.info("final: clean_err %.1f%%  rob_err@%.2f %.1f%%", error_pct(model, xte, yte),
             EPS_FINAL, error_pct(model, xte, yte, EPS_FINAL, PGD_STEPS_EVAL))


if __name__ == "__main__":
    main()
