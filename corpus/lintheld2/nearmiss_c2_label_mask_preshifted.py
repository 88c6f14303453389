"""Completion-only training: the collator already builds a mask aligned with the
*labels* (label_mask[:, j] == 1 iff tokens[:, j + 1] is a completion token), so the
training step slices it the same way as the inputs."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW

PAD, SEP = 0, 1
VOCAB, L = 30, 10


def collate(rng, n, table):
    tokens = np.full((n, L), PAD, np.int32)
    label_mask = np.zeros((n, L), np.float32)
    for i in range(n):
        plen = int(rng.integers(2, 5))
        prompt = rng.integers(2, 14, plen)
        comp = [table[prompt[-1]], table[table[prompt[-1]]]]
        seq = list(prompt) + [SEP] + comp
        tokens[i, :len(seq)] = seq
        # completion tokens sit at positions plen+1 .. len(seq)-1; the mask is stored at the
        # position that PREDICTS them (one earlier)
        label_mask[i, plen:len(seq) - 1] = 1.0
    return mx.array(tokens), mx.array(label_mask)


class Bigram2(nn.Module):
    """predicts the next token from the current and the previous token"""

    def __init__(self, dim=32):
        super().__init__()
        self.cur = nn.Embedding(VOCAB, dim)
        self.prev = nn.Embedding(VOCAB, dim)
        self.proj = nn.Linear(dim, VOCAB)

    def __call__(self, ids):
        prev = mx.concatenate([mx.zeros_like(ids[:, :1]), ids[:, :-1]], axis=1)
        return self.proj(nn.gelu(self.cur(ids) + self.prev(prev)))


def completion_loss(model, tokens, label_mask):
    logits = model(tokens[:, :-1])
    nll = nn.losses.cross_entropy(logits, tokens[:, 1:], reduction="none")
    m = label_mask[:, :-1]
    return (nll * m).sum() / m.sum()


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    table = rng.integers(14, VOCAB, VOCAB)        # token -> next completion token
    model = Bigram2()
    opt = AdamW(learning_rate=5e-3, weight_decay=0.0)
    step = nn.value_and_grad(model, completion_loss)
    t0 = time.time()
    for it in range(250):
        toks, m = collate(rng, 64, table)
        loss, g = step(model, toks, m)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        if it % 50 == 0 or it == 249:
            print(f"it {it:3d}  completion loss {loss.item():.4f}")
    toks, m = collate(rng, 500, table)
    pred = mx.argmax(model(toks[:, :-1]), axis=-1)
    hit = ((pred == toks[:, 1:]) * m[:, :-1]).sum() / m[:, :-1].sum()
    print(f"held-out completion-token accuracy {hit.item():.3f}  ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
