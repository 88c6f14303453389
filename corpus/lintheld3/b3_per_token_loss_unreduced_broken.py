"""Tiny character-level next-token model on synthetic text with padded batches."""
import random

import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim

VOCAB = "^$abcdefgh "
PAD, BOS = 0, 1
stoi = {c: i + 2 for i, c in enumerate(VOCAB[2:])}


def synth_corpus(n, rng):
    words = ["abc", "bead", "cafe", "dhg", "hag", "fed", "bad"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(2, 5))) for _ in range(n)]


def encode_batch(lines):
    seqs = [[BOS] + [stoi[c] for c in s] for s in lines]
    T = max(len(s) for s in seqs)
    toks = mx.array([s + [PAD] * (T - len(s)) for s in seqs])
    return toks[:, :-1], toks[:, 1:]


class BigramMLP(mnn.Module):
    def __init__(self, vocab, dim=32):
        super().__init__()
        self.emb = mnn.Embedding(vocab, dim)
        self.mlp = mnn.Sequential(mnn.Linear(dim, 64), mnn.SiLU(), mnn.Linear(64, vocab))

    def __call__(self, tokens):
        return self.mlp(self.emb(tokens))


def token_nll(logits, targets):
    mask = (targets != PAD).astype(logits.dtype)
    return mnn.losses.cross_entropy(logits, targets) * mask, mask


def lm_loss(lm, inputs, targets):
    nll, mask = token_nll(lm(inputs), targets)
    return nll


def iterate(corpus, bs, rng):
    while True:
        rng.shuffle(corpus)
        for i in range(0, len(corpus) - bs + 1, bs):
            yield encode_batch(corpus[i:i + bs])


def main():
    rng = random.Random(0)
    mx.random.seed(0)
    corpus = synth_corpus(400, rng)
    lm = BigramMLP(len(VOCAB))
    opt = optim.Adam(learning_rate=1e-2)
    step_fn = mnn.value_and_grad(lm, lm_loss)
    batches = iterate(corpus, 16, rng)
    for step in range(150):
        inputs, targets = next(batches)
        loss, grads = step_fn(lm, inputs, targets)
        opt.update(lm, grads)
        mx.eval(lm.parameters(), opt.state)
        n_tok = (targets != PAD).sum()
        if step % 30 == 0 or step == 149:
            print(f"step {step:3d}  nll/token {(loss.sum() / n_tok).item():.4f}")


if __name__ == "__main__":
    main()
