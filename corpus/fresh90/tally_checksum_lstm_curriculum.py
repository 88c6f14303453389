"""Warehouse tally sheets: each sheet is a string of digits 0..4 (crate counts
per shelf) and the clerk writes a check symbol = (sum of counts) mod 5 at the
bottom.  We train an LSTM to compute the check symbol from the digits.

Training follows a length curriculum: sheets of 2 shelves first, then 3, 5
and 8 (the sum-mod-5 task is parity-like: a trial that started at length 4
stayed at chance for 800 steps).  When the sheets get longer the loss jumps
up for a while before the model catches up again -- that is expected.  The
shortest sheets are partly forgotten by the end; the target is long sheets.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tally")

N_SYMBOLS = 5


class Config:
    stages = (2, 3, 5, 8)         # sheet lengths
    steps_per_stage = (300, 300, 400, 400)
    batch = 64
    embed = 8
    hidden = 48
    lr = 1e-2
    clip = 1.0
    report_every = 50
    val_sheets = 512
    seed = 7


class TallyNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embed = nn.Embedding(N_SYMBOLS, cfg.embed)
        self.lstm = nn.LSTM(cfg.embed, cfg.hidden)
        self.head = nn.Linear(cfg.hidden, N_SYMBOLS)

    def __call__(self, digits):
        h, _ = self.lstm(self.embed(digits))      # (B, L, H)
        return self.head(h[:, -1, :])              # use the last step only


def make_sheets(rng, n, length):
    d = rng.integers(0, N_SYMBOLS, size=(n, length))
    return d.astype(np.int32), (d.sum(axis=1) % N_SYMBOLS).astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    pred = mx.argmax(model(x), axis=1)
    return mx.mean(pred == y).item()


def main():
    cfg = Config()
    mx.random.seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)

    model = TallyNet(cfg)
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=cfg.lr)

    # sanity check once: every parameter must receive a gradient
    x0, y0 = make_sheets(rng, cfg.batch, cfg.stages[0])
    _, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(x0), mx.array(y0))
    for name, g in tree_flatten(g0):
        if mx.abs(g).max().item() == 0.0:
            raise RuntimeError(f"no gradient reaches {name}")
    log.info("gradient check ok (%d leaves)", len(tree_flatten(g0)))

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        grads, gnorm = optim.clip_grad_norm(grads, cfg.clip)
        opt.update(model, grads)
        return loss, gnorm

    log.info("%-6s %-7s %-6s %-9s %-9s %-8s", "stage", "len", "step", "loss", "val_acc", "gnorm")
    t0 = time.perf_counter()
    global_step = 0
    for stage, (length, n_steps) in enumerate(zip(cfg.stages, cfg.steps_per_stage)):
        xv, yv = make_sheets(rng, cfg.val_sheets, length)
        xv, yv = mx.array(xv), mx.array(yv)
        run_loss, run_n = 0.0, 0
        for i in range(1, n_steps + 1):
            xb, yb = make_sheets(rng, cfg.batch, length)
            loss, gnorm = step(mx.array(xb), mx.array(yb))
            mx.eval(loss, gnorm, state)
            run_loss += loss.item()
            run_n += 1
            global_step += 1
            if i % cfg.report_every == 0:
                acc = accuracy(model, xv, yv)
                log.info("%-6d %-7d %-6d %-9.4f %7.1f%%  %-8.3f", stage, length, global_step,
                         run_loss / run_n, 100.0 * acc, gnorm.item())
                run_loss, run_n = 0.0, 0
        log.info("stage %d (length %d) done, val_acc %.1f%%", stage, length,
                 100.0 * accuracy(model, xv, yv))

    # final check on sheets of every length seen in training
    for length in cfg.stages:
        xt, yt = make_sheets(rng, 1024, length)
        log.info("test length %2d: accuracy %.1f%% (chance 20.0%%)", length,
                 100.0 * accuracy(model, mx.array(xt), mx.array(yt)))
    log.info("total time %.1fs", time.perf_counter() - t0)


if __name__ == "__main__":
    main()
