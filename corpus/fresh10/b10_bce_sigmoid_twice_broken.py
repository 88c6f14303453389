"""Multi-label tagger: a small encoder + one sigmoid output per tag.

Mirrors the usual "num_labels" classification head: the head returns
probabilities for the report, and the loss is binary cross-entropy per tag.
"""
import logging

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("tagger")

N_FEAT, N_TAGS = 40, 8


def make_split(n, proj, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEAT)).astype(np.float32)
    scores = x @ proj
    y = (scores > 1.0).astype(np.float32)  # ~25% of tags switched on
    return x, y


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(N_FEAT, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU())
        self.classifier = nn.Linear(96, N_TAGS)

    def __call__(self, x):
        return self.classifier(self.enc(x))


def compute_loss(model, x, y):
    logits = model(x)
    return nn.losses.binary_cross_entropy(mx.sigmoid(logits), y, reduction="mean")


def tag_accuracy(model, x, y):
    probs = mx.sigmoid(model(x))
    return ((probs > 0.5) == (y > 0.5)).mean().item()


def main():
    mx.random.seed(7)
    proj = np.random.default_rng(0).normal(size=(N_FEAT, N_TAGS)).astype(np.float32) / np.sqrt(N_FEAT) * 1.6
    xtr, ytr = make_split(8000, proj, seed=1)
    xva, yva = make_split(1000, proj, seed=2)
    xva_m, yva_m = mx.array(xva), mx.array(yva)

    model = Tagger()
    mx.eval(model.parameters())
    opt = optim.Adamax(learning_rate=4e-3)
    loss_and_grad = nn.value_and_grad(model, compute_loss)

    bs = 100
    for epoch in range(1, 13):
        perm = np.random.default_rng(epoch).permutation(len(xtr))
        tot = 0.0
        for i in range(0, len(xtr), bs):
            idx = perm[i:i + bs]
            loss, grads = loss_and_grad(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        train_bce = tot / (len(xtr) // bs)
        val_bce = compute_loss(model, xva_m, yva_m).item()
        log.info("epoch %2d train_bce %.4f val_bce %.4f tag_acc %.3f",
                 epoch, train_bce, val_bce, tag_accuracy(model, xva_m, yva_m))


if __name__ == "__main__":
    main()
