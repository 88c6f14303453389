"""Learn the Luhn check digit with a small GRU.

The payload is read right-to-left (the direction the Luhn rule doubles in),
one digit per step, through a FIXED random digit code book (the embedding is
frozen on purpose: only the GRU and the head train). A curriculum grows the
payload length 2 -> 4 -> 6 -> 8, so the loss jumps up at each stage change
and then comes back down. The learning rate warms up from 0.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("luhn")

STAGES = [(2, 300), (4, 500), (6, 550), (8, 650)]  # (payload length, steps)
BATCH = 64
PEAK_LR = 3e-3
WARMUP = 100
REPORT_EVERY = 100


def luhn_check_digit(payload):
    """payload: int array (n, L) of digits, most significant first."""
    rev = payload[:, ::-1]
    doubled = rev.copy()
    doubled[:, 0::2] *= 2
    doubled = np.where(doubled > 9, doubled - 9, doubled)
    s = doubled.sum(axis=1)
    return (10 - s % 10) % 10


def make_batch(rng, n, length):
    payload = rng.integers(0, 10, size=(n, length))
    y = luhn_check_digit(payload)
    # model input: reversed digits (rightmost first) + "double me" flag
    digits = payload[:, ::-1].copy()
    flag = np.tile((np.arange(length) % 2 == 0).astype(np.float32), (n, 1))
    return mx.array(digits), mx.array(flag), mx.array(y)


class LuhnGRU(nn.Module):
    def __init__(self, code_dim=16, hidden=80):
        super().__init__()
        self.codebook = nn.Embedding(10, code_dim)
        self.rnn = nn.GRU(code_dim + 1, hidden)
        self.head = nn.Linear(hidden, 10)

    def __call__(self, digits, flag):
        e = self.codebook(digits)
        h = self.rnn(mx.concatenate([e, flag[..., None]], axis=-1))
        return self.head(h[:, -1, :])


def loss_fn(model, digits, flag, y):
    return nn.losses.cross_entropy(model(digits, flag), y, reduction="mean")


def accuracy(model, batch):
    digits, flag, y = batch
    pred = mx.argmax(model(digits, flag), axis=-1)
    return (pred == y).astype(mx.float32).mean().item()


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = LuhnGRU()
    model.codebook.freeze()  # fixed code book, on purpose
    mx.eval(model.parameters())
    codebook_before = np.array(model.codebook.weight)

    n_train = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
    n_all = sum(p.size for _, p in tree_flatten(model.parameters()))
    log.info("params: %d trainable of %d (code book frozen)", n_train, n_all)

    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP), lambda step: PEAK_LR], [WARMUP]
    )
    opt = optim.Adam(learning_rate=schedule)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    heldout = {L: make_batch(np.random.default_rng(100 + L), 2000, L) for L, _ in STAGES}

    step = 0
    t0 = time.time()
    for stage, (length, n_steps) in enumerate(STAGES):
        log.info("stage %d: payload length %d for %d steps", stage, length, n_steps)
        run_ce, run_n = 0.0, 0
        for i in range(n_steps):
            batch = make_batch(rng, BATCH, length)
            loss, grads = loss_and_grad(model, *batch)
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                log.info("first-step grads: %d leaves, %d all-zero %s", len(flat), len(zero), zero)
            grads, _ = optim.clip_grad_norm(grads, 1.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            run_ce += loss.item()
            run_n += 1
            if (i + 1) % REPORT_EVERY == 0 or i + 1 == n_steps:
                acc = accuracy(model, heldout[length])
                log.info(
                    "stage %d len %d step %4d lr %.2e train_ce %.3f heldout_acc %5.1f%%",
                    stage, length, step, opt.learning_rate.item(), run_ce / run_n, 100 * acc,
                )
                run_ce, run_n = 0.0, 0

    log.info("done in %.1fs; final held-out accuracy by payload length:", time.time() - t0)
    for length, _ in STAGES:
        log.info("  len %d: %5.1f%% (chance 10.0%%)", length, 100 * accuracy(model, heldout[length]))
    same = np.array_equal(codebook_before, np.array(model.codebook.weight))
    log.info("code book unchanged: %s", same)


if __name__ == "__main__":
    main()
