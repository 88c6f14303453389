# Learn the update rule of the elementary cellular automaton "Rule 110" from
# (row, next row) pairs with a tiny circular 1-D conv net, trained with a
# hand-written Nesterov-momentum SGD. Progress is shown as an ASCII rollout of
# the learned rule next to the true rule, plus the per-cell bit accuracy.
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map

WIDTH = 48
RULE = 110


def ca_step_np(rows):
    left = np.roll(rows, 1, axis=-1)
    right = np.roll(rows, -1, axis=-1)
    code = 4 * left + 2 * rows + right
    table = np.array([(RULE >> i) & 1 for i in range(8)], dtype=np.int32)
    return table[code]


class CellRule(nn.Module):
    def __init__(self, channels=16):
        super().__init__()
        self.conv = nn.Conv1d(1, channels, kernel_size=3)  # valid conv on a wrapped row
        self.mix = nn.Conv1d(channels, channels, kernel_size=1)
        self.head = nn.Conv1d(channels, 1, kernel_size=1)

    def __call__(self, rows):
        # rows: (B, W) of 0/1 floats -> logits (B, W)
        x = mx.concatenate([rows[:, -1:], rows, rows[:, :1]], axis=1)[..., None]
        h = nn.relu(self.conv(2.0 * x - 1.0))
        h = nn.relu(self.mix(h))
        return self.head(h)[..., 0]


def loss_fn(model, rows, target):
    return nn.losses.binary_cross_entropy(model(rows), target, with_logits=True, reduction="mean")


def render(row):
    return "".join("#" if v else "." for v in row)


def rollout(model, seed_row, steps):
    cur = mx.array(seed_row[None, :].astype(np.float32))
    out = []
    for _ in range(steps):
        cur = (model(cur) > 0).astype(mx.float32)
        out.append(np.array(cur[0]).astype(np.int32))
    return out


def main():
    rng = np.random.default_rng(110)
    mx.random.seed(110)
    model = CellRule()
    lr, mu = 0.02, 0.9
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())
    grad_fn = nn.value_and_grad(model, loss_fn)

    seed_row = np.zeros(WIDTH, dtype=np.int32)
    seed_row[-2] = 1
    true_rows, r = [], seed_row.copy()
    for _ in range(6):
        r = ca_step_np(r)
        true_rows.append(r)

    # held-out pairs with mixed densities
    dens = rng.uniform(0.1, 0.9, size=(512, 1))
    val_x = (rng.random((512, WIDTH)) < dens).astype(np.int32)
    val_y = ca_step_np(val_x)
    vx, vy = mx.array(val_x.astype(np.float32)), mx.array(val_y)

    first = True
    t0 = time.time()
    for it in range(1, 1201):
        d = rng.uniform(0.05, 0.95, size=(64, 1))
        xb = (rng.random((64, WIDTH)) < d).astype(np.int32)
        yb = ca_step_np(xb).astype(np.float32)
        loss, grads = grad_fn(model, mx.array(xb.astype(np.float32)), mx.array(yb))
        if first:
            zero = [k for k, g in tree_flatten(grads) if mx.abs(g).max().item() == 0.0]
            print(f"grad check @step 1: {len(tree_flatten(grads))} leaves, zero-grad leaves: {zero or 'none'}")
            first = False
        # Nesterov momentum: v <- mu*v + g ; p <- p - lr*(g + mu*v)
        velocity = tree_map(lambda v, g: mu * v + g, velocity, grads)
        new_params = tree_map(lambda p, g, v: p - lr * (g + mu * v),
                              model.trainable_parameters(), grads, velocity)
        model.update(new_params)
        mx.eval(model.parameters(), velocity, loss)

        if it in (1, 20, 60, 150, 400, 1200):
            bit_acc = mx.mean((model(vx) > 0).astype(mx.int32) == vy).item()
            row_acc = mx.mean(mx.all((model(vx) > 0).astype(mx.int32) == vy, axis=1)).item()
            print(f"\n-- step {it}  bce {loss.item():.4f}  bit_acc {bit_acc:.4f}  exact_rows {row_acc:.3f}")
            for learned, truth in zip(rollout(model, seed_row, 6), true_rows):
                print(f"  {render(learned)}   {render(truth)}")
    print(f"\ntrained in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
