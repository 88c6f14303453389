"""Organ voicing workshop: squeeze a 40-sample pipe-speech attack transient
(the first few ms of a flue pipe's onset envelope) into a 12-bit code and
rebuild it, so that voicers can search an archive of pipes by code.

The binariser is sign() with a hand-written straight-through gradient
(mx.custom_function + vjp, clipped to |x| <= 1).  Optimiser is a hand-written
SGD with momentum over tree_map.  Progress is a bar redrawn with '\r';
a summary table is printed per epoch after the bar finishes.
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

L, BITS = 40, 12
N_TRAIN, N_TEST = 6000, 1000
BATCH = 100
EPOCHS = 12
LR, MOMENTUM = 0.05, 0.9


@mx.custom_function
def sign_ste(x):
    return mx.where(x >= 0, 1.0, -1.0).astype(x.dtype)


@sign_ste.vjp
def sign_ste_vjp(x, cotangent, output):
    # one primal: MLX passes the array itself
    return cotangent * (mx.abs(x) <= 1.0).astype(cotangent.dtype)


def attack_transients(n, rng):
    t = np.linspace(0, 1, L)
    family = rng.integers(0, 4, n)              # principal, flute, string, reed-like flue
    rise = np.array([0.18, 0.30, 0.10, 0.22])[family] * rng.uniform(0.8, 1.25, n)
    chiff = np.array([0.35, 0.10, 0.55, 0.20])[family] * rng.uniform(0.6, 1.4, n)
    chiff_f = np.array([14, 9, 20, 11])[family] + rng.normal(0, 1.0, n)
    level = rng.uniform(0.7, 1.0, n)
    env = level[:, None] * (1 - np.exp(-t[None, :] / rise[:, None]))
    burst = chiff[:, None] * np.exp(-t[None, :] / 0.12) * np.sin(2 * np.pi * chiff_f[:, None] * t[None, :])
    x = env + burst + rng.normal(0, 0.03, (n, L))
    return x.astype(np.float32)


class PipeHasher(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(L, 96), nn.GELU(), nn.Linear(96, BITS))
        self.dec = nn.Sequential(nn.Linear(BITS, 96), nn.GELU(), nn.Linear(96, L))

    def code(self, x):
        return sign_ste(self.enc(x))

    def __call__(self, x):
        return self.dec(self.code(x))


def loss_fn(model, x):
    return mx.mean((model(x) - x) ** 2)


def snr_db(model, x):
    err = mx.mean((model(x) - x) ** 2)
    return float(10 * mx.log10(mx.mean(x ** 2) / err).item())


def bar(i, n, loss, width=30):
    k = int(width * i / n)
    sys.stdout.write(f"\r  [{'#' * k}{'.' * (width - k)}] {i:3d}/{n}  mse {loss:.4f}")
    sys.stdout.flush()


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    x_tr = attack_transients(N_TRAIN, rng)
    x_te = attack_transients(N_TEST, rng)
    mean = x_tr.mean(0)
    x_tr -= mean
    x_te -= mean
    xt = mx.array(x_te)

    model = PipeHasher()
    mx.eval(model.parameters())
    vg = nn.value_and_grad(model, loss_fn)
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())

    _, g = vg(model, mx.array(x_tr[:BATCH]))
    dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
    print(f"first-step gradient check: {len(tree_flatten(g))} leaves, all-zero: {dead or 'none'}")
    print(f"test SNR before training: {snr_db(model, xt):.2f} dB")

    prev_codes = np.array(model.code(xt) > 0)
    nb = N_TRAIN // BATCH
    rows = []
    t0 = time.time()
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(N_TRAIN)
        tot = 0.0
        for i in range(nb):
            xb = mx.array(x_tr[order[i * BATCH:(i + 1) * BATCH]])
            loss, grads = vg(model, xb)
            velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
            model.update(tree_map(lambda p, v: p - LR * v, model.trainable_parameters(), velocity))
            mx.eval(model.parameters(), velocity, loss)
            tot += loss.item()
            if (i + 1) % 6 == 0 or i + 1 == nb:
                bar(i + 1, nb, tot / (i + 1))
        sys.stdout.write("\n")
        codes = np.array(model.code(xt) > 0)
        churn = float((codes != prev_codes).mean()) * 100   # % of test bits that flipped this epoch
        prev_codes = codes
        distinct = len({c.tobytes() for c in codes})
        rows.append((epoch, tot / nb, snr_db(model, xt), churn, distinct, time.time() - t0))
        print(f"{'epoch':>5} | {'train mse':>9} | {'test SNR dB':>11} | {'bit churn %':>11} | {'codes used':>10} | {'s':>5}")
        for r in rows[-1:]:
            print(f"{r[0]:>5} | {r[1]:>9.4f} | {r[2]:>11.2f} | {r[3]:>11.2f} | {r[4]:>10d} | {r[5]:>5.1f}")

    print("\nsummary")
    print(f"{'epoch':>5} | {'train mse':>9} | {'test SNR dB':>11} | {'bit churn %':>11} | {'codes used':>10}")
    for r in rows:
        print(f"{r[0]:>5} | {r[1]:>9.4f} | {r[2]:>11.2f} | {r[3]:>11.2f} | {r[4]:>10d}")


if __name__ == "__main__":
    main()
