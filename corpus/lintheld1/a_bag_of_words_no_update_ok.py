"""Sentiment-ish toy: bag-of-embeddings classifier over synthetic token sequences."""
import argparse
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB = 200
POS_WORDS = list(range(10, 30))
NEG_WORDS = list(range(30, 50))


def synth_corpus(n, seq_len, seed):
    rnd = random.Random(seed)
    docs, labels = [], []
    for _ in range(n):
        label = rnd.randint(0, 1)
        cue = POS_WORDS if label else NEG_WORDS
        toks = [rnd.randrange(50, VOCAB) for _ in range(seq_len)]
        for j in rnd.sample(range(seq_len), 3):
            toks[j] = rnd.choice(cue)
        docs.append(toks)
        labels.append(label)
    return mx.array(docs), mx.array(labels)


class BagClassifier(nn.Module):
    def __init__(self, vocab, dim, n_cls=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, n_cls)

    def __call__(self, tokens):
        return self.out(self.emb(tokens).mean(axis=1))


def xent(net, tokens, labels):
    return nn.losses.cross_entropy(net(tokens), labels).mean()


def iterate(tokens, labels, bs):
    perm = mx.random.permutation(tokens.shape[0])
    for s in range(0, tokens.shape[0], bs):
        ids = perm[s:s + bs]
        yield tokens[ids], labels[ids]


def train_epoch(net, opt, loss_and_grad, tokens, labels, bs):
    net.train()
    seen, running = 0, 0.0
    for tb, lb in iterate(tokens, labels, bs):
        loss, grads = loss_and_grad(net, tb, lb)
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        running += loss.item() * tb.shape[0]
        seen += tb.shape[0]
    return running / seen


def evaluate(net, tokens, labels):
    net.eval()
    return (mx.argmax(net(tokens), axis=-1) == labels).mean().item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--dim", type=int, default=16)
    p.add_argument("--bs", type=int, default=64)
    args = p.parse_args()

    mx.random.seed(0)
    tr_x, tr_y = synth_corpus(1500, 24, seed=1)
    va_x, va_y = synth_corpus(300, 24, seed=2)
    net = BagClassifier(VOCAB, args.dim)
    opt = optim.Adam(learning_rate=2e-2)
    mx.eval(net.parameters())
    loss_and_grad = nn.value_and_grad(net, xent)

    for ep in range(args.epochs):
        tr_loss = train_epoch(net, opt, loss_and_grad, tr_x, tr_y, args.bs)
        print(f"epoch {ep}: train loss {tr_loss:.4f}  val acc {evaluate(net, va_x, va_y):.3f}")


if __name__ == "__main__":
    main()
