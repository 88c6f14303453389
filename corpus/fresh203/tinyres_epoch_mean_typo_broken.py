import argparse
import time
import mlx.nn as nn
import mlx.core as mx
import mlx.optimizers as optim
import numpy as np


parser = argparse.ArgumentParser(add_help=True)
parser.add_argument("--batch_size", type=int, default=64, help="batch size")
parser.add_argument("--epochs", type=int, default=4, help="number of epochs")
parser.add_argument("--lr", type=float, default=2e-3, help="learning rate")
parser.add_argument("--seed", type=int, default=0, help="random seed")


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.bn1 = nn.BatchNorm(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)
        self.bn2 = nn.BatchNorm(c)

    def __call__(self, x):
        out = nn.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return nn.relu(out + x)


class TinyResNet(nn.Module):
    def __init__(self, num_classes=4, c=8):
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.block1 = Block(c)
        self.block2 = Block(c)
        self.fc = nn.Linear(c, num_classes)

    def num_params(self):
        return sum(v.size for _, v in nn.utils.tree_flatten(self.parameters()))

    def __call__(self, x):
        x = nn.relu(self.stem(x))
        x = self.block2(self.block1(x))
        x = mx.mean(x, axis=(1, 2))
        return self.fc(x)


def make_split(n, rng):
    # four classes: bright stripe in one of four quadrants, on noisy background
    y = rng.integers(0, 4, size=n)
    x = rng.normal(0.0, 0.6, size=(n, 8, 8, 3)).astype(np.float32)
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, r * 4:(r + 1) * 4, q * 4:(q + 1) * 4, c % 3] += 1.5
    return x, y.astype(np.int32)


def batches(x, y, bs, rng=None):
    idx = np.arange(len(x)) if rng is None else rng.permutation(len(x))
    for s in range(0, len(x), bs):
        j = idx[s:s + bs]
        yield {"image": x[j], "label": y[j]}


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
        if batch_counter % 4 == 0:
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

    eean_tr_loss = mx.mean(mx.array(losses))
    mean_tr_acc = mx.mean(mx.array(accs))
    samples_per_sec = mx.mean(mx.array(samples_per_sec))
    return mean_tr_loss, mean_tr_acc, samples_per_sec


def test_epoch(model, test_iter, epoch):
    model.eval()
    accs = []
    for batch_counter, batch in enumerate(test_iter):
        x = mx.array(batch["image"])
        y = mx.array(batch["label"])
        acc = eval_fn(model, x, y)
        accs.append(acc.item())
    model.train()
    return mx.mean(mx.array(accs))


def main(args):
    mx.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    xtr, ytr = make_split(768, rng)
    xte, yte = make_split(256, rng)

    model = TinyResNet()
    print("Number of params: {:0.04f} M".format(model.num_params() / 1e6))

    optimizer = optim.Adam(learning_rate=args.lr)

    for epoch in range(args.epochs):
        train_data = batches(xtr, ytr, args.batch_size, rng)
        tr_loss, tr_acc, throughput = train_epoch(model, train_data, optimizer, epoch)
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

        test_acc = test_epoch(model, batches(xte, yte, args.batch_size), epoch)
        print(f"Epoch: {epoch} | Test acc {test_acc.item():.3f}")


if __name__ == "__main__":
    args = parser.parse_args()
    mx.set_default_device(mx.cpu)
    main(args)
