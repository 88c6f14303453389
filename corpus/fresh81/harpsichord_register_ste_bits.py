"""Harpsichord voicing: which register (8' front, 8' back, 4', lute) plucked a note,
from 8 acoustic measurements. Hidden layer is BINARISED with a straight-through
estimator (hard-tanh STE built with mx.stop_gradient). Loss reported in bits."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

REGISTERS = ["8ft_front", "8ft_back", "4ft", "lute"]
LN2 = math.log(2.0)


def make_notes(n, rng):
    reg = rng.integers(0, 4, size=n)
    key = rng.uniform(0, 1, size=n)                      # position on the keyboard
    pluck_pt = np.array([0.12, 0.16, 0.09, 0.04])[reg] + 0.01 * rng.normal(size=n)
    octave = np.where(reg == 2, 1.0, 0.0) + 0.08 * rng.normal(size=n)
    damping = np.where(reg == 3, 0.8, 0.3) + 0.15 * rng.normal(size=n)
    bright = 2.5 * pluck_pt - 0.3 * key + 0.1 * rng.normal(size=n)
    attack = 4.0 + 2.0 * (reg == 1) - 1.0 * key + 0.6 * rng.normal(size=n)
    sustain = 3.0 - 2.0 * damping + 0.5 * key + 0.3 * rng.normal(size=n)
    noise = rng.normal(size=n)
    X = np.stack([key, pluck_pt, octave, damping, bright, attack, sustain, noise], 1)
    return X.astype(np.float32), reg.astype(np.int32)


def ste_sign(z):
    # forward: sign(z); backward: gradient of clip(z, -1, 1)
    zc = mx.clip(z, -1.0, 1.0)
    return zc + mx.stop_gradient(mx.where(z >= 0, 1.0, -1.0) - zc)


class BinaryHiddenNet(nn.Module):
    def __init__(self, d_in, d_hid, n_out):
        super().__init__()
        self.inp = nn.Linear(d_in, d_hid)
        self.norm = nn.LayerNorm(d_hid)
        self.mid = nn.Linear(d_hid, d_hid)
        self.out = nn.Linear(d_hid, n_out)

    def __call__(self, x):
        h = ste_sign(self.norm(self.inp(x)))
        h = nn.relu(self.mid(h))
        return self.out(h)


def loss_bits(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean") / LN2


def evaluate(model, X, Y):
    logits = model(X)
    bits = nn.losses.cross_entropy(logits, Y, reduction="mean") / LN2
    acc = mx.mean(mx.argmax(logits, axis=1) == Y)
    mx.eval(bits, acc)
    return bits.item(), 100.0 * acc.item()


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    Xtr, Ytr = make_notes(16000, rng)
    Xte, Yte = make_notes(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    Xtr, Ytr, Xte, Yte = map(mx.array, (Xtr, Ytr, Xte, Yte))

    model = BinaryHiddenNet(8, 64, 4)
    opt = optim.RMSprop(learning_rate=1e-3)
    step_fn = nn.value_and_grad(model, loss_bits)

    print(f"registers: {', '.join(REGISTERS)}; train {Xtr.shape[0]} notes, test {Xte.shape[0]}")
    print(f"uniform-guess cross-entropy: {math.log2(4):.3f} bits/note")
    b, a = evaluate(model, Xte, Yte)
    print()
    print("| epoch | train bits/note | test bits/note | test acc | secs |")
    print("|------:|----------------:|---------------:|---------:|-----:|")
    print(f"| {0:5d} | {'-':>15} | {b:14.3f} | {a:7.1f}% | {0.0:4.1f} |")

    bs = 100
    n = Xtr.shape[0]
    first = True
    t0 = time.time()
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i:i + bs]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            if first:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                first_msg = f"first-step gradients: {len(flat)} leaves, all-zero leaves: {zero}"
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        b, a = evaluate(model, Xte, Yte)
        print(f"| {epoch:5d} | {tot / cnt:15.3f} | {b:14.3f} | {a:7.1f}% | {time.time() - t0:4.1f} |")
    print()
    print(first_msg)
    print(f"done: final test {b:.3f} bits/note, accuracy {a:.1f}%")


if __name__ == "__main__":
    main()
