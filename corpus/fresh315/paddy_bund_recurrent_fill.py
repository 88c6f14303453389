"""Terraced rice paddies along one contour channel.

Each row is a line of plots; some plot bunds are closed and one plot holds the
sluice inlet. A plot is flooded when water can walk to it from the inlet
without crossing a closed bund. The network has ONE convolutional step block
that is applied again and again (the same weights every pass), so it can be
run for more passes on longer channels than it was trained on.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(315)
mx.random.seed(315)


def make_rows(n, length, p_closed=0.22):
    closed = (rng.random((n, length)) < p_closed).astype(np.float32)
    inlet = rng.integers(0, length, size=n)
    closed[np.arange(n), inlet] = 0.0
    src = np.zeros((n, length), np.float32)
    src[np.arange(n), inlet] = 1.0
    wet = np.zeros((n, length), np.float32)
    for i in range(n):
        j = inlet[i]
        while j >= 0 and closed[i, j] == 0:
            wet[i, j] = 1.0
            j -= 1
        j = inlet[i] + 1
        while j < length and closed[i, j] == 0:
            wet[i, j] = 1.0
            j += 1
    x = np.stack([closed, src], axis=-1)
    return mx.array(x), mx.array(wet)


class StepBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.mix = nn.Conv1d(2 * width, width, kernel_size=3, padding=1)
        self.out = nn.Conv1d(width, width, kernel_size=1)

    def __call__(self, h, e):
        z = nn.gelu(self.mix(mx.concatenate([h, e], axis=-1)))
        return mx.tanh(self.out(z))


class ChannelFiller(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.inject = nn.Conv1d(2, width, kernel_size=1)
        self.cell = StepBlock(width)
        self.head = nn.Conv1d(width, 1, kernel_size=1)
        self.width = width

    def __call__(self, x, passes):
        e = self.inject(x)
        h = mx.zeros(e.shape)
        for _ in range(passes):
            h = self.cell(h, e)
        return self.head(h).squeeze(-1)


def loss_fn(model, x, y, passes):
    logits = model(x, passes)
    return nn.losses.binary_cross_entropy(logits, y, with_logits=True, reduction="mean")


def score(model, x, y, passes):
    logits = model(x, passes)
    pred = (logits > 0).astype(mx.float32)
    plot_acc = mx.mean(pred == y)
    row_exact = mx.mean(mx.all(pred == y, axis=1))
    return plot_acc.item() * 100.0, row_exact.item() * 100.0


TRAIN_LEN, TRAIN_PASSES = 10, 12
STEPS, BATCH = 180, 32
x_tr, y_tr = make_rows(12000, TRAIN_LEN)
x_va, y_va = make_rows(300, TRAIN_LEN)
x_long, y_long = make_rows(300, 24)

model = ChannelFiller()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
n_step = sum(v.size for _, v in tree_flatten(model.cell.parameters()))
print(f"rows train={x_tr.shape[0]} len={TRAIN_LEN}  valid={x_va.shape[0]}  long-channel test len=24")
print(f"params {n_params} (shared cell {n_step}, reused {TRAIN_PASSES}x per forward in training)")
print(f"share of flooded plots in valid: {y_va.mean().item()*100:.1f}%  (all-dry baseline plot acc "
      f"{(1-y_va.mean().item())*100:.1f}%)")

warm = 30
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, STEPS - warm, 1e-4)], [warm]
)
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, loss_fn)

# one gradient look before training: the shared cell collects gradient from every pass
xb, yb = x_tr[:BATCH], y_tr[:BATCH]
_, g0 = loss_and_grad(model, xb, yb, TRAIN_PASSES)
gflat = tree_flatten(g0)
zero = [k for k, v in gflat if mx.abs(v).max().item() == 0.0]
print(f"grad leaves {len(gflat)}, all-zero leaves: {zero if zero else 'none'}; "
      f"|grad| cell.mix.weight {mx.abs(g0['cell']['mix']['weight']).mean().item():.2e}")

pa, ex = score(model, x_va, y_va, TRAIN_PASSES)
print(f"untrained: valid plot acc {pa:.1f}%  row exact {ex:.1f}%")
print()
print(f"{'step':>5} {'lr':>9} {'train_bce':>9} | {'acc@4':>6} {'acc@12':>7} {'exact@12':>8} | {'long acc@12':>11} {'long acc@32':>11} {'long exact@32':>13}")

t0 = time.perf_counter()
perm = rng.permutation(x_tr.shape[0])
cursor = 0
run = []
for step in range(1, STEPS + 1):
    if cursor + BATCH > len(perm):
        perm = rng.permutation(x_tr.shape[0])
        cursor = 0
    idx = mx.array(perm[cursor:cursor + BATCH])
    cursor += BATCH
    lr_now = lr_sched(opt.step).item()
    loss, grads = loss_and_grad(model, x_tr[idx], y_tr[idx], TRAIN_PASSES)
    grads, _ = optim.clip_grad_norm(grads, 1.0)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step in (1, 10) or step % 30 == 0:
        a6, _ = score(model, x_va, y_va, 4)
        a20, e20 = score(model, x_va, y_va, TRAIN_PASSES)
        l20, _ = score(model, x_long, y_long, TRAIN_PASSES)
        l48, le48 = score(model, x_long, y_long, 32)
        print(f"{step:>5} {lr_now:>9.2e} {np.mean(run[-20:]):>9.4f} | {a6:>5.1f}% {a20:>6.1f}% {e20:>7.1f}% |"
              f" {l20:>10.1f}% {l48:>10.1f}% {le48:>12.1f}%")

print()
print(f"done in {time.perf_counter()-t0:.1f}s")
for p in (4, 8, 12, 24, 32, 48):
    la, le = score(model, x_long, y_long, p)
    print(f"  long channel (24 plots), {p:>2} passes: plot acc {la:5.1f}%  row exact {le:5.1f}%")
