#!/usr/bin/env python3
"""Teach a GRU to add binary numbers bit by bit (least significant bit first).

Curriculum: operands start 4 bits long and double at every stage (4, 8, 16, 32).
The per-bit loss may jump up when a stage starts (longer carry chains), then
falls again. The lr warms up from exactly 0 over the first 120 updates.
Progress is a single bar redrawn with '\r'; one summary row per stage.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Config:
    hidden = 32
    batch = 64
    stages = (4, 8, 16, 32)
    steps_per_stage = 350
    peak_lr = 4e-3
    warmup = 120
    weight_decay = 1e-4
    eval_batch = 512
    bar_width = 28


class Adder(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rnn = nn.GRU(2, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, bits):            # bits: (B, L, 2) float
        h = self.rnn(bits)               # (B, L, H)
        return self.out(h).squeeze(-1)   # (B, L) logits of the sum bits


def make_batch(rng, n, n_bits):
    """Operands < 2**(n_bits-1) so the sum fits in n_bits bits."""
    a = rng.integers(0, 2, size=(n, n_bits))
    b = rng.integers(0, 2, size=(n, n_bits))
    a[:, -1] = 0
    b[:, -1] = 0
    s = np.zeros_like(a)
    carry = np.zeros(n, dtype=a.dtype)
    for i in range(n_bits):                       # ripple-carry reference
        tot = a[:, i] + b[:, i] + carry
        s[:, i] = tot & 1
        carry = tot >> 1
    x = np.stack([a, b], axis=-1).astype(np.float32)
    return mx.array(x), mx.array(s.astype(np.float32))


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True,
                                          reduction="mean")


def evaluate(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    wrong_bits = (pred != y)
    bit_err = wrong_bits.astype(mx.float32).mean()
    seq_err = wrong_bits.any(axis=1).astype(mx.float32).mean()
    return 100.0 * bit_err.item(), 100.0 * seq_err.item()


def draw_bar(stage, step, total, loss, lr, width):
    done = int(width * step / total)
    bar = "#" * done + "." * (width - done)
    sys.stdout.write(f"\r  {stage:>2}-bit [{bar}] {step:4d}/{total} "
                     f"bce/bit {loss:.4f} lr {lr:.2e}")
    sys.stdout.flush()


def main(cfg=Config):
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    model = Adder(cfg.hidden)
    mx.eval(model.parameters())
    total_steps = cfg.steps_per_stage * len(cfg.stages)
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, cfg.peak_lr, cfg.warmup),
         optim.cosine_decay(cfg.peak_lr, total_steps - cfg.warmup, 2e-4)],
        [cfg.warmup])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    n_params = sum(p.size for _, p in tree_flatten(model.trainable_parameters()))
    print(f"GRU adder: {n_params} parameters, stages {list(cfg.stages)} bits, "
          f"{cfg.steps_per_stage} updates each")
    print("(bit_err% and seq_err% are error rates on 512 fresh sums: lower is better)")

    header = f"{'bits':>4} | {'start bce':>9} | {'end bce':>8} | {'bit_err%':>8} | " \
             f"{'seq_err%':>8} | {'next-stage seq_err%':>19} | {'secs':>5}"
    rows = []
    t_all = time.time()
    global_step = 0
    for k, n_bits in enumerate(cfg.stages):
        t0 = time.time()
        ema, first = None, None
        for step in range(1, cfg.steps_per_stage + 1):
            x, y = make_batch(rng, cfg.batch, n_bits)
            loss, grads = loss_and_grad(model, x, y)
            if global_step == 0:
                flat = tree_flatten(grads)
                dead = [name for name, g in flat if mx.abs(g).sum().item() == 0.0]
                print(f"first update: {len(flat)} gradient leaves, all-zero: {dead or 'none'}"
                      f" (lr at this update = {float(opt.learning_rate):.1e})")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            global_step += 1
            lv = loss.item()
            ema = lv if ema is None else 0.95 * ema + 0.05 * lv
            if first is None:
                first = lv
            if step % 10 == 0 or step == cfg.steps_per_stage:
                draw_bar(n_bits, step, cfg.steps_per_stage, ema,
                         float(opt.learning_rate), cfg.bar_width)
        sys.stdout.write("\n")
        xe, ye = make_batch(rng, cfg.eval_batch, n_bits)
        bit_err, seq_err = evaluate(model, xe, ye)
        nxt = cfg.stages[k + 1] if k + 1 < len(cfg.stages) else 2 * n_bits
        xn, yn = make_batch(rng, cfg.eval_batch, nxt)
        _, seq_next = evaluate(model, xn, yn)
        rows.append(f"{n_bits:>4} | {first:>9.4f} | {ema:>8.4f} | {bit_err:>8.2f} | "
                    f"{seq_err:>8.2f} | {seq_next:>19.2f} | {time.time() - t0:>5.1f}")

    print()
    print(header)
    print("-" * len(header))
    for r in rows:
        print(r)
    print(f"total {time.time() - t_all:.1f}s, {global_step} updates")


if __name__ == "__main__":
    main()
