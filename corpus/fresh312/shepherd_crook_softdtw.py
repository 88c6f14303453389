"""Sheepdog-trial whistle contours.

Every handler whistles four commands (walk-up, away, come-bye, lie-down) with
their own base pitch and range, and never at quite the same tempo: each
recording is a randomly time-warped version of the command's pitch shape.
A small MLP maps (command, handler profile) to a 24-frame pitch contour.

Two models are trained in turn from the same seed: one on plain per-frame
squared error (reference) and one on the soft-DTW alignment loss (gamma 0.05),
which is tolerant of tempo jitter. Soft-DTW is a soft minimum over all
monotone alignments, so its value goes below zero once the fit is close.
Both are scored with the hard DTW distance (numpy).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T = 24
GAMMA = 0.05
BIG = 1e8


def template(cmd, t):
    if cmd == 0:   # walk-up: rising glide
        return -1 + 2 * t
    if cmd == 1:   # away: falling glide with a flick
        return 1 - 2 * t + 0.6 * np.exp(-((t - 0.85) / 0.05) ** 2)
    if cmd == 2:   # come-bye: two tones
        return np.where(t < 0.5, -0.6, 0.9)
    return np.sin(6 * np.pi * t) * 0.8   # lie-down: warble


def make_set(rng, n):
    cmd = rng.integers(0, 4, size=n)
    prof = np.stack([rng.uniform(-1, 1, n), rng.uniform(0.6, 1.4, n),
                     rng.uniform(-1, 1, n)], axis=1)        # base, range, (unused)
    Y = np.zeros((n, T), dtype=np.float32)
    grid = np.linspace(0, 1, T)
    for k in range(n):
        knots = np.sort(rng.uniform(0, 1, 3))
        warp_y = np.concatenate([[0], np.sort(knots + rng.normal(0, 0.08, 3)).clip(0, 1), [1]])
        warp_x = np.concatenate([[0], knots, [1]])
        tw = np.interp(grid, warp_x, warp_y)
        Y[k] = prof[k, 0] + prof[k, 1] * template(cmd[k], tw) + rng.normal(0, 0.05, T)
    X = np.concatenate([np.eye(4)[cmd], prof], axis=1).astype(np.float32)
    return X, Y


class ContourNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, T)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h)


def soft_dtw(x, y, gamma=GAMMA):
    """Batched soft-DTW, anti-diagonal recursion. x, y: (B, T)."""
    B = x.shape[0]
    D = (x[:, :, None] - y[:, None, :]) ** 2
    Dp = mx.pad(D, [(0, 0), (1, 0), (1, 0)], constant_values=BIG)
    rows = mx.arange(T + 1)
    prev2 = mx.where(rows == 0, 0.0, BIG)[None, :] * mx.ones((B, 1))
    prev1 = mx.full((B, T + 1), BIG)
    for k in range(2, 2 * T + 1):
        cols = k - rows
        valid = (rows >= 1) & (cols >= 1) & (cols <= T)
        dk = Dp[:, rows, mx.clip(cols, 0, T)]
        a = mx.pad(prev2[:, :-1], [(0, 0), (1, 0)], constant_values=BIG)
        b = mx.pad(prev1[:, :-1], [(0, 0), (1, 0)], constant_values=BIG)
        c = prev1
        z = mx.stack([a, b, c], axis=-1)
        smin = -gamma * mx.logsumexp(-z / gamma, axis=-1)
        cur = mx.where(valid[None, :], dk + smin, BIG)
        prev2, prev1 = prev1, cur
    return prev1[:, T]


def hard_dtw(x, y):
    n = len(x)
    R = np.full((n + 1, n + 1), np.inf)
    R[0, 0] = 0
    D = (x[:, None] - y[None, :]) ** 2
    for i in range(1, n + 1):
        for j in range(1, n + 1):
            R[i, j] = D[i - 1, j - 1] + min(R[i - 1, j - 1], R[i - 1, j], R[i, j - 1])
    return R[n, n]


def mse_loss(model, x, y):
    return ((model(x) - y) ** 2).sum(axis=1).mean()


def sdtw_loss(model, x, y):
    return soft_dtw(model(x), y).mean()


def score(model, X, Y, n=300):
    P = np.array(model(mx.array(X[:n])))
    dtw = np.mean([hard_dtw(P[k], Y[k]) for k in range(n)])
    sq = ((P - Y[:n]) ** 2).sum(1).mean()
    return dtw, sq


def train(tag, loss_fn, Xtr, Ytr, Xva, Yva, rng, t0, steps=420, batch=64):
    mx.random.seed(7)
    model = ContourNet()
    mx.eval(model.parameters())
    sched = optim.step_decay(2e-3, 0.5, 250)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)
    Xm, Ym = mx.array(Xtr), mx.array(Ytr)
    d0, s0 = score(model, Xva, Yva)
    print(f"[{tag}] start: valid dtw {d0:.3f}  sq.err {s0:.3f}")
    window = []
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(Ytr), size=batch))
        loss, g = vg(model, Xm[idx], Ym[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % 140 == 0:
            d, s = score(model, Xva, Yva)
            print(f"[{tag}] step {step:4d}  lr {sched(mx.array(step)).item():.1e}  "
                  f"objective {np.mean(window):+8.4f}  valid dtw {d:.3f}  sq.err {s:.3f}  "
                  f"({time.time() - t0:.1f}s)")
            window = []
    return model


def main():
    rng = np.random.default_rng(2312)
    t0 = time.time()
    Xtr, Ytr = make_set(rng, 4000)
    Xva, Yva = make_set(rng, 300)
    print(f"{len(Xtr)} training whistles, {len(Xva)} held out, {T} frames each")
    flat = np.zeros_like(Yva) + Yva.mean(1, keepdims=True)
    print(f"flat-at-handler-mean contour: valid dtw "
          f"{np.mean([hard_dtw(flat[k], Yva[k]) for k in range(300)]):.3f}")
    x = mx.array(Yva[:1])
    print(f"soft-dtw of a contour with itself: {soft_dtw(x, x).item():+.4f} "
          f"(hard dtw 0.000)")
    m_sq = train("per-frame", mse_loss, Xtr, Ytr, Xva, Yva, rng, t0)
    m_dtw = train("soft-dtw", sdtw_loss, Xtr, Ytr, Xva, Yva, rng, t0)
    d1, s1 = score(m_sq, Xva, Yva)
    d2, s2 = score(m_dtw, Xva, Yva)
    print(f"summary: valid dtw per-frame {d1:.3f} | soft-dtw {d2:.3f}   "
          f"sq.err per-frame {s1:.3f} | soft-dtw {s2:.3f}")


if __name__ == "__main__":
    main()
