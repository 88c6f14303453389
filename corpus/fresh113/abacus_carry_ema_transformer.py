"""Teach a tiny transformer to add two 4-digit numbers (digits fed least-significant first).

The sum is read off five query slots appended after the operands.  Training uses AdamW with
a linear warm-up that starts at a learning rate of exactly 0, and evaluation is done with an
exponential moving average (EMA) copy of the weights which never receives gradients itself.
Loss is reported in bits per output digit.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

log = logging.getLogger("abacus")
logging.basicConfig(level=logging.INFO, format="%(levelname).1s %(name)s | %(message)s")

N_DIG = 4
OUT_DIG = N_DIG + 1
VOCAB = 11            # 0-9 digits, 10 = query slot
SEQ = 2 * N_DIG + OUT_DIG


class Adder(nn.Module):
    def __init__(self, dims=48, heads=4, layers=2):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, dims)
        self.pos = nn.Embedding(SEQ, dims)
        self.enc = nn.TransformerEncoder(layers, dims, heads, mlp_dims=2 * dims)
        self.head = nn.Linear(dims, 10)

    def __call__(self, tokens):
        pos = mx.arange(tokens.shape[1])
        h = self.tok(tokens) + self.pos(pos)
        h = self.enc(h, None)
        return self.head(h[:, -OUT_DIG:, :])


def make_batch(rng, n):
    a = rng.integers(0, 10 ** N_DIG, size=n)
    b = rng.integers(0, 10 ** N_DIG, size=n)
    s = a + b

    def digits(v, k):
        return np.stack([(v // 10 ** i) % 10 for i in range(k)], axis=1)

    x = np.concatenate([digits(a, N_DIG), digits(b, N_DIG),
                        np.full((n, OUT_DIG), 10)], axis=1).astype(np.int32)
    y = digits(s, OUT_DIG).astype(np.int32)
    return mx.array(x), mx.array(y)


def loss_fn(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def evaluate(model, x, y):
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean")
    pred = mx.argmax(logits, axis=-1)
    digit_acc = mx.mean(pred == y)
    exact = mx.mean(mx.all(pred == y, axis=1))
    mx.eval(ce, digit_acc, exact)
    return ce.item() / math.log(2), 100 * digit_acc.item(), 100 * exact.item()


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    model = Adder()
    shadow = Adder()
    shadow.update(tree_map(lambda p: mx.array(p), model.parameters()))
    shadow.eval()
    mx.eval(model.parameters(), shadow.parameters())

    steps, warm, batch = 600, 60, 64
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=0.01)
    grad_fn = nn.value_and_grad(model, loss_fn)
    ema_decay = 0.99

    vx, vy = make_batch(np.random.default_rng(1234), 1000)
    n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("params %d, train batches of %d fresh sums, %d steps (warm-up %d from lr 0)",
             n_params, batch, steps, warm)
    log.info("uniform guess = %.3f bits/digit", math.log2(10))

    # gradient audit on the first batch
    x, y = make_batch(rng, batch)
    _, g0 = grad_fn(model, x, y)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
    log.info("grad audit: %d leaves, zero-gradient leaves: %s", len(leaves), zero or "none")

    bits, acc, exact = evaluate(shadow, vx, vy)
    log.info("step %4d  lr %.2e  train -       valid(ema) %.3f bits/digit  digit acc %5.1f%%  exact %5.1f%%",
             0, 0.0, bits, acc, exact)

    t0 = time.perf_counter()
    window = []
    model.train()
    for step in range(1, steps + 1):
        x, y = make_batch(rng, batch)
        lr_now = sched(opt.step).item()
        loss, grads = grad_fn(model, x, y)
        grads, _ = optim.clip_grad_norm(grads, 1.0)
        opt.update(model, grads)
        new_shadow = tree_map(lambda s, p: ema_decay * s + (1 - ema_decay) * p,
                              shadow.parameters(), model.parameters())
        shadow.update(new_shadow)
        mx.eval(model.parameters(), opt.state, shadow.parameters(), loss)
        window.append(loss.item() / math.log(2))

        if step % 75 == 0:
            bits, acc, exact = evaluate(shadow, vx, vy)
            log.info("step %4d  lr %.2e  train %.3f  valid(ema) %.3f bits/digit  digit acc %5.1f%%  exact %5.1f%%  %.1fs",
                     step, lr_now, float(np.mean(window)), bits, acc, exact, time.perf_counter() - t0)
            window = []

    model.eval()
    raw = evaluate(model, vx, vy)
    ema = evaluate(shadow, vx, vy)
    log.info("done: raw weights %.3f bits/digit %.1f%% exact | ema weights %.3f bits/digit %.1f%% exact",
             raw[0], raw[2], ema[0], ema[2])


if __name__ == "__main__":
    main()
