"""Masked-cell completion for 4x4 sudoku (Shidoku).

All 288 valid grids are enumerated; 224 are used to generate training puzzles
(random blanks every batch), 64 never-seen grids make the validation puzzles.
An MLP reads the one-hot board (blank/1..4 per cell) and predicts the digit of
every cell; the loss only counts blank cells.  Every report prints one
validation board with the model's fill-ins in brackets.
"""
import itertools
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

BOXES = [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
UNITS = [list(range(r * 4, r * 4 + 4)) for r in range(4)] + \
        [list(range(c, 16, 4)) for c in range(4)] + BOXES


def all_grids():
    rows = list(itertools.permutations([1, 2, 3, 4]))
    out = []
    for r in itertools.product(rows, repeat=4):
        g = np.array(r).reshape(16)
        if all(len(set(g[u])) == 4 for u in UNITS):
            out.append(g)
    return np.stack(out)


GRIDS = all_grids()
assert len(GRIDS) == 288, len(GRIDS)
perm = rng.permutation(len(GRIDS))
TRAIN, VALID = GRIDS[perm[:224]], GRIDS[perm[224:]]


def make_puzzles(grids, rng, lo=5, hi=10):
    """Blank between lo and hi cells of each grid; returns boards (0 = blank) and blank mask."""
    boards = grids.copy()
    blank = np.zeros_like(grids, dtype=bool)
    for i in range(len(grids)):
        k = rng.integers(lo, hi + 1)
        idx = rng.choice(16, size=k, replace=False)
        blank[i, idx] = True
    boards[blank] = 0
    return boards, blank


def encode(boards):
    return mx.array(np.eye(5, dtype=np.float32)[boards].reshape(len(boards), 80))


class FillIn(nn.Module):
    def __init__(self, hidden=256):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(80, hidden), nn.GELU(),
            nn.Linear(hidden, hidden), nn.GELU(),
            nn.Linear(hidden, 64),
        )

    def __call__(self, x):
        return self.net(x).reshape(-1, 16, 4)


def loss_fn(model, x, target, blank):
    ce = nn.losses.cross_entropy(model(x), target, reduction="none")
    return (ce * blank).sum() / blank.sum()


def consistent(board, fill):
    """fill is a full 16-digit grid; valid if every unit holds 1..4 and clues are kept."""
    if np.any((board > 0) & (board != fill)):
        return False
    return all(len(set(fill[u])) == 4 for u in UNITS)


def show(board, fill):
    rows = []
    for r in range(4):
        cells = []
        for c in range(4):
            i = r * 4 + c
            cells.append(f" {board[i]} " if board[i] else f"[{fill[i]}]")
            if c == 1:
                cells.append("|")
        rows.append("    " + "".join(cells))
        if r == 1:
            rows.append("    " + "-" * 13)
    return "\n".join(rows)


def evaluate(model, boards, blank, grids):
    pred = np.array(mx.argmax(model(encode(boards)), axis=-1)) + 1
    fills = np.where(blank, pred, boards)
    cell_acc = float((pred == grids)[blank].mean())
    valid = float(np.mean([consistent(b, f) for b, f in zip(boards, fills)]))
    return cell_acc, valid, fills


def main():
    steps, batch, warm, peak = 1500, 128, 100, 2e-3
    sched = optim.join_schedules(
        [optim.linear_schedule(1e-5, peak, warm), optim.cosine_decay(peak, steps - warm, 1e-5)],
        [warm],
    )
    model = FillIn()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    vrng = np.random.default_rng(123)
    vboards, vblank = make_puzzles(VALID, vrng)
    print(f"grids: {len(TRAIN)} train / {len(VALID)} held-out, blanks per puzzle 5..10, chance cell acc 0.25")

    t0 = time.perf_counter()
    window = []
    for step in range(1, steps + 1):
        g = TRAIN[rng.integers(0, len(TRAIN), size=batch)]
        boards, blank = make_puzzles(g, rng)
        x, y, m = encode(boards), mx.array(g - 1), mx.array(blank.astype(np.float32))
        loss, grads = vg(model, x, y, m)
        if step == 1:
            zero = [k for k, v in tree_flatten(grads) if float(mx.abs(v).max()) == 0.0]
            print(f"step 1 gradient check: {len(tree_flatten(grads))} leaves, all-zero: {zero or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 300 == 0 or step == 1:
            acc, valid, fills = evaluate(model, vboards, vblank, VALID)
            print(f"\n== step {step}/{steps}  lr {sched(step):.2e}  blank-cell CE {np.mean(window):.3f}  "
                  f"held-out cell acc {acc:.3f}  valid solutions {valid:.1%}  ({time.perf_counter() - t0:.1f}s)")
            print(show(vboards[0], fills[0]))
            window = []


if __name__ == "__main__":
    main()
