"""Learn the game-theoretic value of tic-tac-toe positions.

Every reachable, non-terminal position is labelled by exact minimax from the
side to move's point of view (loss / draw / win). An MLP on a 27-way one-hot
board encoding is trained with Nesterov SGD; 20% of positions are held out.
Progress is a single rewritten status line per epoch; a confusion table at the end.
"""
import sys
import time
from functools import lru_cache

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

LINES = [(0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6)]


def winner(b):
    for a, c, d in LINES:
        if b[a] != 0 and b[a] == b[c] == b[d]:
            return b[a]
    return 0


@lru_cache(maxsize=None)
def value(b, player):
    """+1 win, 0 draw, -1 loss for `player` (to move) under perfect play."""
    w = winner(b)
    if w:
        return 1 if w == player else -1
    moves = [i for i in range(9) if b[i] == 0]
    if not moves:
        return 0
    return max(-value(b[:i] + (player,) + b[i + 1:], -player) for i in moves)


def enumerate_positions():
    seen, out = set(), []
    stack = [((0,) * 9, 1)]
    while stack:
        b, p = stack.pop()
        if (b, p) in seen:
            continue
        seen.add((b, p))
        if winner(b) or 0 not in b:
            continue
        out.append((b, p, value(b, p)))
        for i in range(9):
            if b[i] == 0:
                stack.append((b[:i] + (p,) + b[i + 1:], -p))
    return out


def encode(b, p):
    rel = np.array(b) * p                   # +1 = side to move, -1 = opponent
    return np.concatenate([rel == 1, rel == -1, rel == 0]).astype(np.float32)


def main():
    t0 = time.time()
    pos = enumerate_positions()
    X = np.stack([encode(b, p) for b, p, _ in pos])
    y = np.array([v + 1 for _, _, v in pos], dtype=np.int32)     # 0 loss, 1 draw, 2 win
    perm = np.random.default_rng(0).permutation(len(X))
    n_val = len(X) // 5
    vi, ti = perm[:n_val], perm[n_val:]
    Xt, yt, Xv, yv = mx.array(X[ti]), mx.array(y[ti]), mx.array(X[vi]), mx.array(y[vi])
    counts = np.bincount(y, minlength=3)
    print(f"{len(X)} positions (loss/draw/win = {counts.tolist()}), majority baseline {counts.max() / len(X):.3f}")

    mx.random.seed(0)
    model = nn.Sequential(nn.Linear(27, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(), nn.Linear(96, 3))
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loss_fn = lambda m, xb, yb: nn.losses.cross_entropy(m(xb), yb, reduction="mean")
    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, Xt[:128], yt[:128])
    zero = [k for k, g in tree_flatten(g0) if not mx.any(g != 0).item()]
    print(f"gradient check: {len(tree_flatten(g0))} leaves, zero: {zero or 'none'}")

    epochs, bs = 40, 128
    n = Xt.shape[0]
    for ep in range(1, epochs + 1):
        order = mx.array(np.random.default_rng(100 + ep).permutation(n))
        tot = 0.0
        for i in range(0, n, bs):
            idx = order[i:i + bs]
            loss, grads = vg(model, Xt[idx], yt[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * idx.shape[0]
        acc = mx.mean(mx.argmax(model(Xv), axis=1) == yv).item()
        bar = "#" * (ep * 30 // epochs)
        sys.stdout.write(f"\r[{bar:<30}] epoch {ep:2d}/{epochs} train_xent {tot / n:.4f} val_acc {acc:.3f}")
        sys.stdout.flush()
    sys.stdout.write("\n")
    pred = np.array(mx.argmax(model(Xv), axis=1))
    truth = np.array(yv)
    names = ["loss", "draw", "win"]
    print("confusion (rows = true, cols = predicted):")
    print("        " + " ".join(f"{n:>6}" for n in names))
    for r in range(3):
        print(f"  {names[r]:>5} " + " ".join(f"{np.sum((truth == r) & (pred == c)):>6d}" for c in range(3)))
    print(f"held-out accuracy {np.mean(pred == truth):.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
