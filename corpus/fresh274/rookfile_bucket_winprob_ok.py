"""Win-probability bucket classifier on engine-scored positions.

Each row is a position summarised by a few hand-made features (material,
mobility, king safety, passed pawns, tempo).  The engine score is turned into
a win percentage and then into one of 64 buckets; an MLP learns to predict
the bucket.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

BIN_SIZE = 64
N_FEATURES = 8
SEED = 7


def get_win_perc(centipawns):
    return 0.5 * 2 / (1 + math.exp(-0.00368208 * centipawns))


def make_positions(n, rng):
    feats = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    w = np.array([2.2, 0.9, -0.7, 1.1, 0.4, 0.0, 0.3, -0.2], dtype=np.float32)
    eval_pawns = feats @ w + 0.4 * rng.normal(size=n)
    # tablebase positions: engine reports +-200 pawns minus distance to win
    tb = rng.random(n) < 0.12
    sign = np.where(feats[:, 0] + 0.3 * feats[:, 3] > 0, 1.0, -1.0)
    plies = rng.integers(1, 60, size=n)
    eval_pawns = np.where(tb, sign * (200.0 - plies / 100.0), eval_pawns)
    feats[:, 5] = tb.astype(np.float32)  # "few pieces left" flag

    rows = []
    for i in range(n):
        win_perc = get_win_perc(float(eval_pawns[i]) * 100)
        active_bin_128 = min(int(win_perc / (1 / 128)), 127)
        active_bin_64 = min(int(win_perc / (1 / 64)), 63)
        rows.append((win_perc, active_bin_128, active_bin_64))
    win = np.array([r[0] for r in rows], dtype=np.float32)
    b128 = np.array([r[1] for r in rows], dtype=np.int32)
    b64 = np.array([r[2] for r in rows], dtype=np.int32)
    return feats, win, b128, b64


class BucketNet(nn.Module):
    def __init__(self, n_in, hidden, n_out):
        super().__init__()
        self.l1 = nn.Linear(n_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_out)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x))
        return self.out(x)


def loss_fn(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def eval_fn(model, X, y):
    return (mx.argmax(model(X), axis=1) == y).mean()


def lax_eval_fn(model, X, y):
    return (mx.abs(mx.argmax(model(X), axis=1) - y) <= 1).mean()


def expected_win(model, X):
    probs = mx.softmax(model(X), axis=1)
    centers = (mx.arange(BIN_SIZE) + 0.5) / BIN_SIZE
    return (probs * centers).sum(axis=1)


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    Xtr, wtr, _, ytr = make_positions(16000, rng)
    Xte, wte, _, yte = make_positions(4000, rng)
    print(f"train rows {len(Xtr)}, test rows {len(Xte)}, buckets {BIN_SIZE}")

    model = BucketNet(N_FEATURES, 128, BIN_SIZE)
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=2e-3)
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    Xte_m, yte_m = mx.array(Xte), mx.array(yte)
    decisive = wte > 0.999
    batch_size = 256
    start = time.perf_counter()
    step = 0
    for epoch in range(5):
        perm = rng.permutation(len(Xtr))
        losses = []
        for i in range(0, len(Xtr) - batch_size + 1, batch_size):
            idx = perm[i:i + batch_size]
            X, y = mx.array(Xtr[idx]), mx.array(ytr[idx])
            loss, grads = loss_and_grad_fn(model, X, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state, loss)
            losses.append(loss.item())
            step += 1
        acc = eval_fn(model, Xte_m, yte_m).item()
        lax = lax_eval_fn(model, Xte_m, yte_m).item()
        ew = np.array(expected_win(model, Xte_m))
        mae = float(np.abs(ew - wte).mean())
        won = float(ew[decisive].mean())
        print(
            f"Epoch: {epoch}, step: {step} | train loss: {np.mean(losses):.3f} | "
            f"test acc: {acc:.3f} | lax test acc: {lax:.3f} | win% MAE: {mae:.4f} | "
            f"won positions pred win%: {won:.3f} (n={int(decisive.sum())}) | "
            f"{time.perf_counter() - start:.1f}s"
        )


if __name__ == "__main__":
    main()
