"""Morse practice oscillator: classify a keyed letter from its 8 element durations.

Curriculum on the operator's timing jitter: phase 1 is a clean machine key,
later phases add more human jitter, so the loss jumps at each phase start and
then falls again. Records are dataclasses printed with repr().
"""
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CODE = {"A": ".-", "B": "-...", "C": "-.-.", "D": "-..", "E": ".", "F": "..-.",
        "G": "--.", "H": "....", "I": "..", "K": "-.-", "L": ".-..", "M": "--",
        "N": "-.", "O": "---", "R": ".-.", "S": "...", "T": "-", "U": "..-"}
LETTERS = sorted(CODE)
MAXEL = 8  # marks and gaps interleaved, up to 4 marks + 3 gaps, padded


@dataclass
class PhaseStart:
    phase: int
    jitter: float
    acc_pct_at_start: float


@dataclass
class Report:
    phase: int
    step: int
    jitter: float
    train_ce_window: float
    val_ce: float
    val_acc_pct: float
    secs: float


def key_letters(n, jitter, rng):
    lab = rng.integers(0, len(LETTERS), n)
    x = np.zeros((n, MAXEL), np.float32)
    wpm_unit = rng.uniform(0.8, 1.25, n)   # operator speed
    for i, l in enumerate(lab):
        els = []
        for j, c in enumerate(CODE[LETTERS[l]]):
            if j:
                els.append(1.0)             # intra-letter gap
            els.append(1.0 if c == "." else 3.0)
        d = np.array(els) * wpm_unit[i]
        d = d * np.exp(rng.normal(0, jitter, d.size))
        x[i, :d.size] = d
    return x, lab.astype(np.int32)


class KeyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(MAXEL, 96), nn.Linear(96, 96), nn.Linear(96, len(LETTERS))]

    def __call__(self, x):
        h = x
        for lin in self.layers[:-1]:
            h = nn.relu(lin(h))
        return self.layers[-1](h)


def main():
    rng = np.random.default_rng(2024)
    mx.random.seed(3)
    net = KeyNet()
    opt = optim.Lion(learning_rate=3e-4, weight_decay=0.0)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y).mean()

    vg = nn.value_and_grad(net, loss_fn)
    phases = [0.0, 0.15, 0.30]
    t0 = time.perf_counter()
    checked = False
    for p, jit in enumerate(phases, 1):
        xtr, ytr = key_letters(12000, jit, rng)
        xva, yva = key_letters(2000, jit, rng)
        Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))

        def evaluate():
            logits = net(Xva)
            ce = nn.losses.cross_entropy(logits, Yva).mean().item()
            acc = (mx.argmax(logits, -1) == Yva).astype(mx.float32).mean().item()
            return ce, 100.0 * acc

        print(repr(PhaseStart(p, jit, round(evaluate()[1], 2))))
        window = []
        cursor, perm = 0, rng.permutation(len(ytr))
        for step in range(1, 801):
            if cursor + 64 > len(perm):
                cursor, perm = 0, rng.permutation(len(ytr))
            idx = mx.array(perm[cursor:cursor + 64])
            cursor += 64
            loss, grads = vg(net, Xtr[idx], Ytr[idx])
            if not checked:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
                print(f"# first step: {len(flat)} gradient leaves, zero: {zero}")
                checked = True
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state, loss)
            window.append(loss.item())
            window = window[-50:]
            if step in (10, 50, 200) or step % 400 == 0:
                ce, acc = evaluate()
                print(repr(Report(p, step, jit, round(float(np.mean(window)), 4),
                                  round(ce, 4), round(acc, 2), round(time.perf_counter() - t0, 1))))
    print(f"# done: {len(LETTERS)} letters, chance {100 / len(LETTERS):.1f}%")


if __name__ == "__main__":
    main()
