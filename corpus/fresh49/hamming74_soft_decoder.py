"""Learned soft-decision decoder for the Hamming(7,4) code over BPSK/AWGN.

Each training batch is freshly simulated at a random Eb/N0 in [0, 7] dB.
The network maps the 7 received soft values to one of the 16 messages.
Reported metric: block error rate (BLER, lower is better) on a fixed
4 dB probe set, next to the classical hard-decision syndrome decoder.
At the end: a BLER table against hard-decision and exact ML decoding.
"""
import itertools
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

G = np.array([[1, 0, 0, 0, 1, 1, 0],
              [0, 1, 0, 0, 1, 0, 1],
              [0, 0, 1, 0, 0, 1, 1],
              [0, 0, 0, 1, 1, 1, 1]], dtype=np.int64)
H = np.array([[1, 1, 0, 1, 1, 0, 0],
              [1, 0, 1, 1, 0, 1, 0],
              [0, 1, 1, 1, 0, 0, 1]], dtype=np.int64)
RATE = 4 / 7
MSGS = np.array(list(itertools.product([0, 1], repeat=4)), dtype=np.int64)   # (16, 4)
CODEBOOK = (MSGS @ G) % 2                                                     # (16, 7)
BPSK_BOOK = 1.0 - 2.0 * CODEBOOK
rng = np.random.default_rng(2024)


def simulate(n, ebn0_db):
    idx = rng.integers(0, 16, n)
    ebn0 = 10.0 ** (np.asarray(ebn0_db, dtype=np.float64) / 10.0)
    sigma = np.sqrt(1.0 / (2.0 * RATE * ebn0))
    y = BPSK_BOOK[idx] + rng.normal(size=(n, 7)) * np.reshape(sigma, (-1, 1))
    return y.astype(np.float32), idx


# syndrome -> position of the single flipped bit
SYN_TABLE = {tuple(H[:, j]): j for j in range(7)}


def hard_decode(y):
    bits = (y < 0).astype(np.int64)
    syn = (bits @ H.T) % 2
    for r in range(len(bits)):
        s = tuple(syn[r])
        if any(s):
            bits[r, SYN_TABLE[s]] ^= 1
    return bits[:, :4] @ (1 << np.arange(3, -1, -1))


def ml_decode(y):
    return np.argmax(y @ BPSK_BOOK.T, axis=1)


class SoftDecoder(nn.Module):
    def __init__(self, hidden=96):
        super().__init__()
        self.l1 = nn.Linear(7, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 16)

    def __call__(self, y):
        h = nn.gelu(self.l1(y))
        h = nn.gelu(self.l2(h))
        return self.head(h)


def main():
    mx.random.seed(11)
    model = SoftDecoder()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.03)

    def loss_fn(m, y, t):
        return nn.losses.cross_entropy(m(y), t, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    probe_y, probe_t = simulate(20000, np.full(20000, 4.0))
    probe_hard = float(np.mean(hard_decode(probe_y) != probe_t))
    probe_y_mx = mx.array(probe_y)

    for step in range(1, 1801):
        y, t = simulate(256, rng.uniform(0.0, 7.0, 256))
        loss, grads = vg(model, mx.array(y), mx.array(t))
        if step == 1:
            dead = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            assert not dead, f"parameters without gradient: {dead}"
            print(f"grad check ok: {len(tree_flatten(grads))} leaves all non-zero")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step == 1 or step % 300 == 0:
            pred = np.array(mx.argmax(model(probe_y_mx), axis=1))
            bler = float(np.mean(pred != probe_t))
            print(f"step {step:04d} | xent {loss.item():.4f} | BLER@4dB {bler:.4f} "
                  f"(hard-syndrome {probe_hard:.4f})")

    print("\nEb/N0(dB)   BLER net   BLER hard   BLER ML")
    for snr in [1, 2, 3, 4, 5, 6]:
        y, t = simulate(30000, np.full(30000, float(snr)))
        net = float(np.mean(np.array(mx.argmax(model(mx.array(y)), axis=1)) != t))
        hard = float(np.mean(hard_decode(y) != t))
        ml = float(np.mean(ml_decode(y) != t))
        print(f"{snr:9d}   {net:8.4f}   {hard:9.4f}   {ml:7.4f}")


if __name__ == "__main__":
    main()
