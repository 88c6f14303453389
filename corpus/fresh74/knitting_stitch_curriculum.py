"""Knitting pattern stitch counter: learn the net stitch change of a row of
knitting instructions (k, p, yo, m1, k2tog, ssk, sl) with a small GRU.

Curriculum: rows of 4 instructions first, then 8, then 16 (the loss jumps up
each time the rows get longer, then comes down again).  A quarter of the
batches in a later stage replay a shorter length so the early rows are not
forgotten.  Learning rate warms up
from exactly 0 over the first 80 steps.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

STITCHES = ["k", "p", "yo", "m1", "k2tog", "ssk", "sl"]
DELTA = np.array([0, 0, +1, +1, -1, -1, 0], dtype=np.float32)
PAD = len(STITCHES)


def make_rows(rng, n, length):
    # knitters use plain knit/purl most of the time, shaping stitches rarely
    probs = np.array([0.34, 0.26, 0.1, 0.06, 0.1, 0.08, 0.06])
    ids = rng.choice(len(STITCHES), size=(n, length), p=probs)
    y = DELTA[ids].sum(axis=1)
    return ids.astype(np.int32), y.astype(np.float32)


class StitchCounter(nn.Module):
    def __init__(self, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(PAD + 1, 16)
        self.gru = nn.GRU(16, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, ids):
        h = self.gru(self.embed(ids))       # (B, L, H)
        return self.out(h[:, -1, :]).squeeze(-1)


def loss_fn(model, ids, y):
    return nn.losses.mse_loss(model(ids), y)


def evaluate(model, ids, y):
    pred = model(ids)
    mse = nn.losses.mse_loss(pred, y)
    exact = (mx.round(pred) == y).astype(mx.float32).mean()
    mx.eval(mse, exact)
    return mse.item(), exact.item()


def main():
    t0 = time.perf_counter()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    model = StitchCounter()
    mx.eval(model.parameters())

    warm = optim.linear_schedule(0.0, 3e-3, 80)
    sched = optim.join_schedules([warm, optim.cosine_decay(3e-3, 1100, 3e-4)], [80])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    stages = [(4, 300), (8, 300), (16, 600)]
    valid = {L: make_rows(rng, 600, L) for L, _ in stages}
    batch = 64
    step = 0
    print(f"stitches: {' '.join(STITCHES)}; curriculum lengths: {[L for L, _ in stages]}")
    pools = {}
    for length, n_steps in stages:
        pools[length] = make_rows(rng, 8000, length)
        x_all, y_all = pools[length]
        earlier = [L for L in pools if L != length]
        vx, vy = map(mx.array, valid[length])
        print(f"== stage: rows of {length} instructions, {n_steps} steps; "
              f"variance of target = {y_all.var():.3f}")
        window = []
        for i in range(n_steps):
            if earlier and rng.random() < 0.25:
                xs, ys = pools[earlier[rng.integers(len(earlier))]]
            else:
                xs, ys = x_all, y_all
            idx = rng.integers(0, len(xs), size=batch)
            xb, yb = mx.array(xs[idx]), mx.array(ys[idx])
            loss, grads = step_fn(model, xb, yb)
            if step == 0:
                from mlx.utils import tree_flatten
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if mx.abs(g).max().item() == 0.0]
                print(f"first step: lr={opt.learning_rate.item():.1e}; "
                      f"{len(leaves)} gradient leaves, zero: {zero if zero else 'none'}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            step += 1
            if (i + 1) % 100 == 0:
                vm, ve = evaluate(model, vx, vy)
                print(f"step: {step}; len: {length}; lr: {opt.learning_rate.item():.2e}; "
                      f"train_mse: {np.mean(window):.4f}; valid_mse: {vm:.4f}; "
                      f"exact_count: {100 * ve:.1f}%")
                window = []
    print("== final check on every length")
    for length in (4, 8, 16):
        vm, ve = evaluate(model, *map(mx.array, valid[length]))
        print(f"len: {length}; valid_mse: {vm:.4f}; exact_count: {100 * ve:.1f}%")
    print(f"done: {step} steps in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
