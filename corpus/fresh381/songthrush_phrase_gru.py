"""Song thrush phrase model: GRU next-syllable prediction over three song grammars.

Each stage switches to a richer grammar, so the per-syllable loss steps up at every
stage boundary; each stage is judged against its own entropy floor.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

V = 12
STEPS = 250


def grammar(branch, noise, rng):
    P = np.full((V, V), noise / V)
    for i in range(V):
        nxt = rng.choice(V, size=branch, replace=False)
        w = rng.dirichlet(np.ones(branch) * 3.0)
        P[i, nxt] += (1 - noise) * w
    P /= P.sum(1, keepdims=True)
    return P


def stationary(P):
    vals, vecs = np.linalg.eig(P.T)
    v = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return v / v.sum()


def entropy_rate(P):
    pi = stationary(P)
    H = -(P * np.log(P)).sum(1)
    return float(pi @ H), float(-(pi * np.log(pi)).sum())


def sample(P, n, L, rng):
    pi = stationary(P)
    seq = np.zeros((n, L), dtype=np.int32)
    seq[:, 0] = rng.choice(V, n, p=pi)
    cum = P.cumsum(1)
    for t in range(1, L):
        u = rng.random(n)[:, None]
        seq[:, t] = (u > cum[seq[:, t - 1]]).sum(1).clip(0, V - 1)
    return seq


class PhraseGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, 16)
        self.rnn = nn.GRU(16, 48)
        self.out = nn.Linear(48, V)

    def __call__(self, x):
        return self.out(self.rnn(self.emb(x)))


def loss_fn(model, seq):
    logits = model(seq[:, :-1])
    return nn.losses.cross_entropy(logits, seq[:, 1:], reduction="mean")


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    stages = [("dawn", 1, 0.05), ("territorial", 2, 0.10), ("full_song", 4, 0.15)]
    grams = [(name, grammar(b, nz, rng)) for name, b, nz in stages]
    held = {name: mx.array(sample(P, 400, 21, rng)) for name, P in grams}

    model = PhraseGRU()
    mx.eval(model.parameters())
    opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)
    vg = nn.value_and_grad(model, loss_fn)

    print(f"{'stage':<12}{'steps':>7}{'floor':>8}{'unigram':>9}{'train':>8}{'held':>8}{'gap':>7}{'secs':>6}")
    print("-" * 65)
    for name, P in grams:
        floor, uni = entropy_rate(P)
        t0 = time.time()
        window = []
        for step in range(STEPS):
            batch = mx.array(sample(P, 64, 21, rng))
            loss, g = vg(model, batch)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            window.append(loss.item())
            if step == 0:
                first = loss.item()
        held_loss = loss_fn(model, held[name]).item()
        tr = float(np.mean(window[-50:]))
        print(f"{name:<12}{STEPS:>7}{floor:>8.3f}{uni:>9.3f}{tr:>8.3f}{held_loss:>8.3f}"
              f"{held_loss - floor:>7.3f}{time.time() - t0:>6.1f}   (first batch {first:.3f})")
    print("-" * 65)
    finals = {name: round(loss_fn(model, held[name]).item(), 3) for name, _ in grams}
    print("held-out nats/syllable after all stages:", finals)


if __name__ == "__main__":
    main()
