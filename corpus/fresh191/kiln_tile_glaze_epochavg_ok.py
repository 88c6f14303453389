# Kiln-tile glaze classifier: tiny residual CNN on synthetic 8x8 RGB tile photos,
# 4 glaze finishes. Epoch loop adapted from the mlx-examples cifar script.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
N_CLASSES = 4


def make_tiles(n):
    y = rng.integers(0, N_CLASSES, n)
    xs = np.linspace(-1, 1, 8)
    gx, gy = np.meshgrid(xs, xs)
    base = np.stack([np.sin(3 * gx), np.cos(3 * gy), gx * gy], -1)
    imgs = []
    for c in y:
        tint = np.array([0.2 * c, 0.5 - 0.1 * c, 0.1 * (c % 2)])
        pat = base * (0.5 + 0.25 * c) + tint
        if c % 2:
            pat = pat[::-1]
        imgs.append(pat + 0.3 * rng.standard_normal((8, 8, 3)))
    return np.array(imgs, np.float32), y.astype(np.int32)


class Block(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)

    def __call__(self, x):
        return nn.relu(x + self.c2(nn.relu(self.c1(x))))


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 3, padding=1)
        self.block = Block(12)
        self.head = nn.Linear(12, N_CLASSES)

    def __call__(self, x):
        x = self.block(nn.relu(self.stem(x)))
        return self.head(x.mean(axis=(1, 2)))


def batches(X, Y, bs):
    perm = rng.permutation(len(X))
    for s in range(0, len(X), bs):
        idx = perm[s:s + bs]
        yield {"image": X[idx], "label": Y[idx]}


def eval_fn(model, inp, tgt):
    return mx.mean(mx.argmax(model(inp), axis=1) == tgt)


def train_epoch(model, train_iter, optimizer, epoch):
    def train_step(model, inp, tgt):
        output = model(inp)
        loss = mx.mean(nn.losses.cross_entropy(output, tgt))
        acc = mx.mean(mx.argmax(output, axis=1) == tgt)
        return loss, acc

    train_step_fn = nn.value_and_grad(model, train_step)

    losses = []
    accs = []
    samples_per_sec = []

    for batch_counter, batch in enumerate(train_iter):
        x = mx.array(batch["image"])
        y = mx.array(batch["label"])
        tic = time.perf_counter()
        (loss, acc), grads = train_step_fn(model, x, y)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        toc = time.perf_counter()
        loss = loss.item()
        acc = acc.item()
        losses.append(loss)
        accs.append(acc)
        throughput = x.shape[0] / (toc - tic)
        samples_per_sec.append(throughput)
        if batch_counter % 10 == 0:
            print(
                " | ".join(
                    (
                        f"Epoch {epoch:02d} [{batch_counter:03d}]",
                        f"Train loss {loss:.3f}",
                        f"Train acc {acc:.3f}",
                        f"Throughput: {throughput:.2f} images/second",
                    )
                )
            )

    mean_tr_loss = mx.mean(mx.array(losses))
    mean_tr_acc = mx.mean(mx.array(accs))
    samples_per_sec = mx.mean(mx.array(samples_per_sec))
    return mean_tr_loss, mean_tr_acc, samples_per_sec


def test_epoch(model, X, Y):
    accs = []
    for batch in batches(X, Y, 128):
        acc = eval_fn(model, mx.array(batch["image"]), mx.array(batch["label"]))
        accs.append(acc.item())
    return mx.mean(mx.array(accs))


def main():
    mx.random.seed(0)
    Xtr, Ytr = make_tiles(1536)
    Xte, Yte = make_tiles(384)
    model = TinyResNet()
    mx.eval(model.parameters())
    optimizer = optim.Adam(learning_rate=3e-3)
    for epoch in range(6):
        tr_loss, tr_acc, throughput = train_epoch(
            model, batches(Xtr, Ytr, 64), optimizer, epoch)
        print(
            " | ".join(
                (
                    f"Epoch: {epoch}",
                    f"avg. Train loss {tr_loss.item():.3f}",
                    f"avg. Train acc {tr_acc.item():.3f}",
                    f"Throughput: {throughput.item():.2f} images/sec",
                )
            )
        )
        test_acc = test_epoch(model, Xte, Yte)
        print(f"Epoch: {epoch} | Test acc {test_acc.item():.3f}")


if __name__ == "__main__":
    main()
