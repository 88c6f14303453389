"""Distil perfect tic-tac-toe play into a small two-headed MLP.

Every reachable non-terminal position is solved by minimax; the net learns the
game value for the side to move (loss/draw/win) and a policy over the 9 squares
(soft target = uniform over the optimal moves).  Training is silent; at the end
an audit prints accuracy by game phase, the optimal-move rate, and how the
policy fares in self-play and against a random player.
"""
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
def solve(b, me):
    """Value of board b (tuple, 1/-1/0) for player `me` to move: +1 win, 0 draw, -1 loss."""
    w = winner(b)
    if w:
        return 1 if w == me else -1
    moves = [i for i in range(9) if b[i] == 0]
    if not moves:
        return 0
    best = -2
    for m in moves:
        nb = list(b); nb[m] = me
        best = max(best, -solve(tuple(nb), -me))
    return best


def positions():
    seen, out = set(), []
    stack = [((0,) * 9, 1)]
    while stack:
        b, me = stack.pop()
        if (b, me) in seen or winner(b) or 0 not in b:
            continue
        seen.add((b, me))
        vals = []
        for m in range(9):
            if b[m] == 0:
                nb = list(b); nb[m] = me
                vals.append((m, -solve(tuple(nb), -me)))
                stack.append((tuple(nb), -me))
        v = solve(b, me)
        out.append((b, me, v, [m for m, x in vals if x == v]))
    return out


def features(b, me):
    b = np.array(b) * me                           # +1 = side to move, -1 = opponent
    return np.concatenate([(b == 1), (b == -1), (b == 0)]).astype(np.float32)


class Net(nn.Module):
    def __init__(self, h=128):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(27, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.value = nn.Linear(h, 3)
        self.policy = nn.Linear(h, 9)

    def __call__(self, x):
        z = self.body(x)
        legal = x[:, 18:27]
        return self.value(z), mx.where(legal > 0, self.policy(z), -1e9)


def loss_fn(model, x, v, pi):
    vlog, plog = model(x)
    lv = nn.losses.cross_entropy(vlog, v, reduction="mean")
    lp = -(pi * nn.log_softmax(plog, axis=-1)).sum(axis=-1).mean()
    return lv + lp


def pick(model, b, me):
    _, plog = model(mx.array(features(b, me)[None]))
    return int(mx.argmax(plog, axis=-1).item())


def play(model, rng, model_side, vs_random=True):
    b, me = [0] * 9, 1
    while not winner(b) and 0 in b:
        if me == model_side or not vs_random:
            m = pick(model, tuple(b), me)
        else:
            m = int(rng.choice([i for i in range(9) if b[i] == 0]))
        b[m] = me
        me = -me
    return winner(b)


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    data = positions()
    X = np.stack([features(b, me) for b, me, _, _ in data])
    V = np.array([v + 1 for _, _, v, _ in data])            # 0 loss, 1 draw, 2 win
    P = np.zeros((len(data), 9), np.float32)
    for i, (_, _, _, best) in enumerate(data):
        P[i, best] = 1.0 / len(best)
    pieces = np.array([9 - b.count(0) for b, _, _, _ in data])
    idx = rng.permutation(len(data))
    n_val = len(data) // 7
    va, tr = idx[:n_val], idx[n_val:]

    model = Net()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=1e-4)
    vg = nn.value_and_grad(model, loss_fn)

    t0, epochs, bs = time.perf_counter(), 40, 128
    first_loss = None
    for ep in range(epochs):
        order = rng.permutation(tr)
        for s in range(0, len(order), bs):
            j = order[s:s + bs]
            loss, grads = vg(model, mx.array(X[j]), mx.array(V[j]), mx.array(P[j]))
            if first_loss is None:
                flat = tree_flatten(grads)
                dead = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                assert not dead, f"all-zero gradient leaves: {dead}"
                first_loss = loss.item()
            grads, _ = optim.clip_grad_norm(grads, 5.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        last_loss = loss.item()

    vlog, plog = model(mx.array(X[va]))
    vpred = np.array(mx.argmax(vlog, axis=-1))
    mpred = np.array(mx.argmax(plog, axis=-1))
    optimal = P[va][np.arange(len(va)), mpred] > 0

    print(f"positions solved: {len(data)} ({len(tr)} train / {len(va)} held-out); "
          f"{len(tree_flatten(model.parameters()))} leaves, none with a zero first-step gradient")
    print(f"training loss (value CE + policy CE): first batch {first_loss:.3f} -> last batch {last_loss:.3f} "
          f"over {epochs} epochs, {time.perf_counter() - t0:.1f}s")
    print("held-out audit by game phase")
    print("  pieces |    n | value acc | optimal move")
    for k in range(0, 9):
        sel = pieces[va] == k
        if sel.sum():
            print(f"  {k:6d} | {sel.sum():4d} | {np.mean(vpred[sel] == V[va][sel]):9.3f} | {optimal[sel].mean():12.3f}")
    print(f"  {'all':>6} | {len(va):4d} | {np.mean(vpred == V[va]):9.3f} | {optimal.mean():12.3f}"
          f"   (majority-class value acc {np.mean(V[va] == np.bincount(V[tr]).argmax()):.3f})")
    res = play(model, rng, 1, vs_random=False)
    print(f"self-play from the empty board: {'draw' if res == 0 else ('X wins' if res == 1 else 'O wins')} "
          f"(perfect play is a draw)")
    for side, name in [(1, "X"), (-1, "O")]:
        r = [play(model, rng, side) for _ in range(200)]
        w = sum(x == side for x in r); l = sum(x == -side for x in r)
        print(f"as {name} vs random mover, 200 games: won {w}, drew {200 - w - l}, lost {l}")


if __name__ == "__main__":
    main()
