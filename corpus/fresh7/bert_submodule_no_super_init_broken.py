"""Tiny BERT-style sentence classifier (sum-of-digits parity task) trained with AdamW."""
import logging
import math
import random

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("bert-tiny")

VOCAB, SEQ, DIM, HEADS = 12, 8, 32, 4
CLS = 10


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, dim, max_len):
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(max_len, dim)
        self.norm = nn.LayerNorm(dim)

    def __call__(self, ids):
        pos = mx.arange(ids.shape[1])
        return self.norm(self.word_embeddings(ids) + self.position_embeddings(pos))


class Bert(nn.Module):
    def __init__(self):
        super().__init__()
        self.embeddings = BertEmbeddings(VOCAB, DIM, SEQ + 1)
        self.encoder = nn.TransformerEncoder(2, DIM, HEADS, mlp_dims=64)
        self.pooler = nn.Linear(DIM, DIM)
        self.classifier = nn.Linear(DIM, 2)

    def __call__(self, ids):
        h = self.encoder(self.embeddings(ids), None)
        return self.classifier(mx.tanh(self.pooler(h[:, 0])))


def make_data(n, rng):
    xs, ys = [], []
    for _ in range(n):
        digits = [rng.randrange(10) for _ in range(SEQ)]
        xs.append([CLS] + digits)
        ys.append(int(sum(d >= 5 for d in digits) > SEQ // 2))
    return mx.array(xs), mx.array(ys)


class Trainer:
    def __init__(self, model, lr):
        self.model = model
        self.opt = optim.AdamW(learning_rate=lr, weight_decay=0.01)
        self.loss_and_grad = nn.value_and_grad(model, self.loss_fn)

    def loss_fn(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def train_step(self, x, y):
        loss, grads = self.loss_and_grad(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()


def main():
    mx.random.seed(0)
    rng = random.Random(0)
    xtr, ytr = make_data(1024, rng)
    xva, yva = make_data(256, rng)
    model = Bert()
    mx.eval(model.parameters())
    n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("trainable parameters: %d", n_params)
    trainer = Trainer(model, 2e-3)
    bs = 64
    for epoch in range(6):
        perm = mx.array(rng.sample(range(xtr.shape[0]), xtr.shape[0]))
        tot = 0.0
        nb = xtr.shape[0] // bs
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            tot += trainer.train_step(xtr[idx], ytr[idx])
        model.eval()
        acc = (mx.argmax(model(xva), axis=1) == yva).mean().item()
        model.train()
        log.info("epoch %d train_ce=%.4f val_acc=%.3f", epoch, tot / nb, acc)


if __name__ == "__main__":
    main()
