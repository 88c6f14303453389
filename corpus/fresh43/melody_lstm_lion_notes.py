"""Next-note model for rule-generated melodies (scale-degree motifs with
occasional wrong notes). nn.LSTM + Lion with decoupled weight decay.
Each epoch prints train/val perplexity and a greedy continuation in note names."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NOTES = ["C", "D", "E", "F", "G", "A", "B", "c"]
V = len(NOTES)
MOTIFS = [[0, 2, 4, 2], [4, 5, 4, 2], [7, 6, 5, 4], [0, 4, 7, 4]]
rng = np.random.default_rng(21)


def melody(n):
    out = []
    while len(out) < n:
        m = MOTIFS[rng.integers(len(MOTIFS))]
        out.extend(m)
    out = np.array(out[:n])
    flip = rng.random(n) < 0.08
    out[flip] = rng.integers(0, V, flip.sum())
    return out


def make_set(n_seq, length=33):
    return np.stack([melody(length) for _ in range(n_seq)]).astype(np.int32)


class MelodyLSTM(nn.Module):
    def __init__(self, dim=32, hidden=64):
        super().__init__()
        self.emb = nn.Embedding(V, dim)
        self.lstm = nn.LSTM(dim, hidden)
        self.out = nn.Linear(hidden, V)

    def __call__(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.out(h)


def loss_fn(model, seqs):
    logits = model(seqs[:, :-1])
    return nn.losses.cross_entropy(logits, seqs[:, 1:], reduction="mean")


def continue_greedy(model, seed, n=12):
    toks = list(seed)
    for _ in range(n):
        logits = model(mx.array([toks]))[0, -1]
        toks.append(int(mx.argmax(logits).item()))
    return " ".join(NOTES[t] for t in toks)


def main():
    train, val = make_set(960), mx.array(make_set(128))
    model = MelodyLSTM()
    opt = optim.Lion(learning_rate=1e-3, weight_decay=1e-2)
    vg = nn.value_and_grad(model, loss_fn)
    bs = 32
    t0 = time.time()
    for epoch in range(1, 11):
        perm = rng.permutation(len(train))
        tot, nb = 0.0, 0
        for i in range(0, len(train), bs):
            loss, grads = vg(model, mx.array(train[perm[i:i + bs]]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        vloss = loss_fn(model, val).item()
        print(f"epoch {epoch:02d}  train ppl {math.exp(tot / nb):6.3f}  val ppl {math.exp(vloss):6.3f}"
              f"  [{time.time() - t0:5.1f}s]  C E G E -> {continue_greedy(model, [0, 2, 4, 2])}")


if __name__ == "__main__":
    main()
