"""Tabular classifier trained from train/valid/test .jsonl splits.

Writes a small synthetic dataset as JSON lines into a scratch folder first,
then loads the three splits the same way a data folder would be read.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class Dataset:
    def __init__(self, path: Path):
        if not path.exists():
            self._rows = None
        else:
            with open(path, "r") as fid:
                self._rows = [json.loads(l) for l in fid]
        self._x = np.array([r["features"] for r in self._rows], dtype=np.float32)
        self._y = np.array([r["label"] for r in self._rows], dtype=np.int32)

    def __getitem__(self, idx):
        return self._x[idx], self._y[idx]

    def __len__(self):
        return len(self._rows)


def write_splits(root: Path, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.0, size=(5, 10))
    for name, n in (("train", 6000), ("valid", 1000), ("test", 1000)):
        with open(root / f"{name}.jsonl", "w") as f:
            for _ in range(n):
                c = int(rng.integers(0, 5))
                x = np.tanh(centers[c] + rng.normal(scale=1.1, size=10)) * 2.0
                f.write(json.dumps({"features": [round(float(v), 4) for v in x], "label": c}) + "\n")


def load(args):
    def load_and_check(name):
        dataset_path = Path(args.data) / f"{name}.jsonl"
        try:
            train = Dataset(dataset_path)
        except Exception as e:
            print(f"Unable to build dataset {dataset_path} ({e})")
            raise

    names = ("train", "valid", "test")
    train, valid, test = (load_and_check(n) for n in names)

    if args.train and len(train) == 0:
        raise ValueError("Training set not found or empty. Must provide training set for fine-tuning.")
    if args.train and len(valid) == 0:
        raise ValueError("Validation set not found or empty. Must provide validation set for fine-tuning.")
    if args.test and len(test) == 0:
        raise ValueError("Test set not found or empty. Must provide test set for evaluation.")
    return train, valid, test


def iterate_batches(dset, batch_size, shuffle=True):
    idx = np.random.permutation(len(dset)) if shuffle else np.arange(len(dset))
    for s in range(0, len(idx) - batch_size + 1, batch_size):
        x, y = dset[idx[s : s + batch_size]]
        yield mx.array(x), mx.array(y)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 64)
        self.l2 = nn.Linear(64, 5)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, dset):
    tot, correct, n = 0.0, 0, 0
    for x, y in iterate_batches(dset, 50, shuffle=False):
        logits = model(x)
        tot += nn.losses.cross_entropy(logits, y, reduction="sum").item()
        correct += (mx.argmax(logits, axis=1) == y).sum().item()
        n += y.size
    return tot / n, correct / n


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--test", action="store_true", default=True)
    args = parser.parse_args()
    if args.data is None:
        args.data = tempfile.mkdtemp(prefix="jsonl_splits_")
        write_splits(Path(args.data))

    np.random.seed(0)
    mx.random.seed(0)
    t0 = time.time()
    print("Loading datasets")
    train_set, valid_set, test_set = load(args)
    print(f"train={len(train_set)} valid={len(valid_set)} test={len(test_set)}")

    model = Net()
    opt = optim.SGD(learning_rate=0.005, momentum=0.9)
    step = nn.value_and_grad(model, loss_fn)
    print(f"{'epoch':>5} | {'train loss':>10} | {'val loss':>8} | {'val acc':>7}")
    for epoch in range(1, args.epochs + 1):
        losses = []
        for x, y in iterate_batches(train_set, 32):
            loss, grads = step(model, x, y)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
        vl, va = evaluate(model, valid_set)
        print(f"{epoch:>5} | {np.mean(losses):>10.4f} | {vl:>8.4f} | {va:>7.3f}")
    tl, ta = evaluate(model, test_set)
    print(f"test loss {tl:.4f} test acc {ta:.3f} ({time.time() - t0:.1f}s)")


if __name__ == "__main__":
    main()
