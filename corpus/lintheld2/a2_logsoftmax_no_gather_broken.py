"""Gaussian-blob classifier, trained with a hand-rolled numerically-stable NLL."""
import time

import mlx.core as core
import mlx.nn as mnn
from mlx.optimizers import AdamW

N_CLASSES = 5
DIM = 16


def make_blobs(n, seed):
    key = core.random.key(seed)
    k1, k2, k3 = core.random.split(key, 3)
    centers = core.random.normal((N_CLASSES, DIM), key=core.random.key(123)) * 0.8
    labels = core.random.randint(0, N_CLASSES, (n,), key=k1)
    feats = centers[labels] + core.random.normal((n, DIM), key=k2)
    return feats, labels


def log_probs(logits):
    # log-softmax by hand: subtract the max for stability
    shifted = logits - core.stop_gradient(logits.max(axis=-1, keepdims=True))
    return shifted - core.log(core.exp(shifted).sum(axis=-1, keepdims=True))


class MLP(mnn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.fc1 = mnn.Linear(DIM, hidden)
        self.fc2 = mnn.Linear(hidden, N_CLASSES)

    def __call__(self, x):
        return self.fc2(mnn.gelu(self.fc1(x)))


class Trainer:
    def __init__(self, net, lr=3e-3):
        self.net = net
        self.opt = AdamW(learning_rate=lr, weight_decay=0.0)
        self._vg = mnn.value_and_grad(self.net, self.objective)

    def objective(self, feats, labels):
        lp = log_probs(self.net(feats))
        return -core.mean(lp)

    def step(self, feats, labels):
        value, grads = self._vg(feats, labels)
        self.opt.update(self.net, grads)
        core.eval(self.net.parameters(), self.opt.state, value)
        return value.item()

    def accuracy(self, feats, labels):
        pred = core.argmax(self.net(feats), axis=-1)
        return (pred == labels).astype(core.float32).mean().item()


def run():
    core.random.seed(0)
    xtr, ytr = make_blobs(2048, 1)
    xva, yva = make_blobs(512, 2)
    trainer = Trainer(MLP())
    t0 = time.time()
    for epoch in range(6):
        perm = core.random.permutation(xtr.shape[0])
        losses = []
        for i in range(0, xtr.shape[0], 128):
            idx = perm[i : i + 128]
            losses.append(trainer.step(xtr[idx], ytr[idx]))
        print(f"epoch {epoch} loss {sum(losses)/len(losses):.4f} "
              f"val_acc {trainer.accuracy(xva, yva):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    run()
