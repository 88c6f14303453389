# tiny ResNet9-style CNN on synthetic "orientation" images (NHWC, like MLX wants)
import sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
N, H, W, C, K = 384, 12, 12, 3, 4


def make_images(n):
    """Bars in 4 orientations + noise -> 4 classes."""
    y = rng.integers(0, K, size=n)
    x = rng.normal(0, 0.6, size=(n, H, W, C)).astype(np.float32)
    idx = np.arange(H)
    for i in range(n):
        k = y[i]
        off = rng.integers(3, H - 3)
        if k == 0:
            x[i, off - 1:off + 1, :, :] += 1.5
        elif k == 1:
            x[i, :, off - 1:off + 1, :] += 1.5
        elif k == 2:
            x[i, idx, idx, :] += 2.0
        else:
            x[i, idx, idx[::-1], :] += 2.0
    return mx.array(x), mx.array(y.astype(np.int32))


class ConvBN(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm(cout)

    def __call__(self, x):
        return nn.leaky_relu(self.bn(self.conv(x)), negative_slope=0.1)


class Residual(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.a = ConvBN(c, c)
        self.b = ConvBN(c, c)

    def __call__(self, x):
        return self.b(self.a(x))


class ResNet9(nn.Module):
    def __init__(self, classes=K):
        super().__init__()
        self.conv0 = ConvBN(C, 8)
        self.conv1 = ConvBN(8, 16)
        self.res1 = Residual(16)
        self.conv2 = ConvBN(16, 32)
        self.res2 = Residual(32)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc = nn.Linear(32, classes)

    def __call__(self, x):
        x = self.conv0(x)
        x = self.pool(self.conv1(x))
        x = x + self.res1(x)
        x = self.pool(self.conv2(x))
        x = x + self.res2(x)
        x = mx.max(x, axis=(1, 2))
        return self.fc(x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def bar(i, n, width=24):
    done = int(width * i / n)
    return "[" + "#" * done + "." * (width - done) + "]"


def main():
    xtr, ytr = make_images(N)
    xte, yte = make_images(192)
    model = ResNet9()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True, weight_decay=5e-4)
    step = nn.value_and_grad(model, loss_fn)
    bs, epochs = 32, 5
    nb = N // bs
    print(f"train={N} test={xte.shape[0]} image={H}x{W}x{C} classes={K}", flush=True)
    for ep in range(1, epochs + 1):
        model.train()
        perm = mx.array(rng.permutation(N))
        t0 = time.time()
        tot = 0.0
        for b in range(nb):
            ids = perm[b * bs:(b + 1) * bs]
            loss, grads = step(model, xtr[ids], ytr[ids])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            sys.stdout.write(f"\repoch {ep}/{epochs} {bar(b + 1, nb)} loss {tot / (b + 1):.4f}")
            sys.stdout.flush()
        model.eval()
        acc = (mx.argmax(model(xte), axis=1) == yte).mean().item()
        sys.stdout.write(f"  test_acc {acc:.3f}  {time.time() - t0:.1f}s\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
