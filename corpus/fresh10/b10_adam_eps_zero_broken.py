"""Bag-of-embeddings topic classifier on synthetic token documents.

Logs one JSON object per reporting interval.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CFG = {
    "vocab": 400,
    "dim": 32,
    "classes": 4,
    "doc_len": 12,
    "batch": 16,
    "steps": 600,
    "lr": 3e-3,
    "betas": [0.9, 0.999],
    "eps": 0.0,
    "weight_decay": 0.01,
    "log_every": 50,
}


def make_corpus(n_docs, vocab, classes, doc_len, seed=0):
    rng = np.random.default_rng(seed)
    # every class prefers its own slice of the vocabulary
    slice_w = vocab // classes
    labels = rng.integers(0, classes, size=n_docs)
    docs = np.empty((n_docs, doc_len), dtype=np.int32)
    for i, c in enumerate(labels):
        own = rng.integers(c * slice_w, (c + 1) * slice_w, size=doc_len)
        noise = rng.integers(0, vocab, size=doc_len)
        pick = rng.random(doc_len) < 0.6
        docs[i] = np.where(pick, own, noise)
    return docs, labels.astype(np.int32)


class BagOfEmbeddings(nn.Module):
    def __init__(self, vocab, dim, classes):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.head = nn.Linear(dim, classes)

    def __call__(self, tokens):
        return self.head(self.emb(tokens).mean(axis=1))


def batches(docs, labels, bs, rng):
    while True:
        perm = rng.permutation(len(docs))
        for i in range(0, len(perm) - bs + 1, bs):
            idx = perm[i:i + bs]
            yield mx.array(docs[idx]), mx.array(labels[idx])


def main():
    mx.random.seed(0)
    docs, labels = make_corpus(3000, CFG["vocab"], CFG["classes"], CFG["doc_len"])
    model = BagOfEmbeddings(CFG["vocab"], CFG["dim"], CFG["classes"])
    mx.eval(model.parameters())
    opt = optim.AdamW(
        learning_rate=CFG["lr"],
        betas=CFG["betas"],
        eps=CFG["eps"],
        weight_decay=CFG["weight_decay"],
    )

    def loss_fn(m, x, y):
        logits = m(x)
        nll = nn.losses.cross_entropy(logits, y, reduction="mean")
        acc = (mx.argmax(logits, axis=1) == y).mean()
        return nll, acc

    step_fn = nn.value_and_grad(model, loss_fn)
    stream = batches(docs, labels, CFG["batch"], np.random.default_rng(1))
    t0 = time.time()
    step = 0
    nll_sum = acc_sum = 0.0
    while step < CFG["steps"]:
        x, y = next(stream)
        (nll, acc), grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, nll, acc)
        nll_sum += nll.item()
        acc_sum += acc.item()
        step += 1
        if step % CFG["log_every"] == 0:
            rec = {
                "step": step,
                "nll": round(nll_sum / CFG["log_every"], 4),
                "acc": round(acc_sum / CFG["log_every"], 3),
                "elapsed": round(time.time() - t0, 2),
            }
            print(json.dumps(rec), flush=True)
            nll_sum = acc_sum = 0.0


if __name__ == "__main__":
    main()
