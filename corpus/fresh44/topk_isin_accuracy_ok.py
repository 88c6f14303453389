"""10-way classifier on noisy synthetic prototypes, validated every epoch with a
small top-k accuracy helper (same shape as the one in mlx-image)."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_CLASSES = 10
DIM = 24


def accuracy_at_k(logits, targets, top_k=(1, 5)):
    max_k = max(top_k)
    preds_top_k = mx.argsort(logits, axis=1)[:, -max_k:]
    acc = {}
    for k in top_k:
        preds_at_k = np.array(preds_top_k[:, -k:])
        targets_at_k = np.expand_dims(np.array(targets), axis=1)
        correct_predictions = np.any(preds_at_k == targets_at_k, axis=1)
        acc[k] = np.mean(correct_predictions)
    return acc


class Accuracy:
    def __init__(self, top_k=(1, 5)):
        self.top_k = top_k
        self.data = []

    def update(self, logits, targets):
        self.data.append(accuracy_at_k(logits, targets, top_k=self.top_k))

    def compute(self):
        return {f"acc@{k}": float(np.mean([x[k] for x in self.data])) for k in self.top_k}

    def reset(self):
        self.data = []


def make_data(rng, n, protos):
    y = rng.integers(0, N_CLASSES, size=n)
    x = protos[y] + rng.normal(scale=1.6, size=(n, DIM))
    return x.astype(np.float32), y.astype(np.int32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(DIM, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, N_CLASSES)
        self.drop = nn.Dropout(0.1)

    def __call__(self, x):
        x = self.drop(nn.gelu(self.fc1(x)))
        x = nn.gelu(self.fc2(x))
        return self.head(x)


def evaluate(model, xs, ys, metric, bs=100):
    model.eval()
    metric.reset()
    tot = 0.0
    for s in range(0, xs.shape[0], bs):
        logits = model(xs[s:s + bs])
        tot += nn.losses.cross_entropy(logits, ys[s:s + bs], reduction="sum").item()
        metric.update(logits, ys[s:s + bs])
    model.train()
    return tot / xs.shape[0], metric.compute()


def main():
    rng = np.random.default_rng(7)
    protos = rng.normal(size=(N_CLASSES, DIM))
    xtr, ytr = make_data(rng, 12000, protos)
    xva, yva = make_data(rng, 2000, protos)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    mx.random.seed(7)
    model = Net()
    opt = optim.AdamW(learning_rate=1e-3, weight_decay=0.01)
    metric = Accuracy(top_k=(1, 5))

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    print(f"{'epoch':>5} | {'train_ce':>8} | {'val_ce':>7} | {'acc@1':>6} | {'acc@5':>6} | {'time':>5}")
    print("-" * 52)
    vl, acc = evaluate(model, xva, yva, metric)
    print(f"{0:>5} | {'-':>8} | {vl:7.4f} | {acc['acc@1']:6.3f} | {acc['acc@5']:6.3f} | {0.0:5.1f}")
    t0 = time.time()
    bs = 64
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        losses = []
        for s in range(0, xtr.shape[0], bs):
            idx = perm[s:s + bs]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        vl, acc = evaluate(model, xva, yva, metric)
        print(f"{epoch:>5} | {np.mean(losses):8.4f} | {vl:7.4f} | {acc['acc@1']:6.3f} | {acc['acc@5']:6.3f} | {time.time() - t0:5.1f}")
    print(f"chance level: acc@1={1 / N_CLASSES:.3f} acc@5={5 / N_CLASSES:.3f}")


if __name__ == "__main__":
    main()
