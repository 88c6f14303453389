"""Small CNN with a hand-written 2x2 max-pool (NHWC) on a toy 'where is the blob' task."""
import functools

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H = W = 8


def blob_images(n, key):
    """Label 0: bright 2x2 blob in the left half, label 1: in the right half."""
    k1, k2, k3 = mx.random.split(key, 3)
    labels = mx.random.randint(0, 2, (n,), key=k1)
    rows = mx.random.randint(0, H - 1, (n,), key=k2)
    cols = mx.random.randint(0, W // 2 - 1, (n,), key=k3) + labels * (W // 2)
    r = mx.arange(H)[None, :, None]
    c = mx.arange(W)[None, None, :]
    rr, cc = rows[:, None, None], cols[:, None, None]
    img = ((r >= rr) & (r <= rr + 1) & (c >= cc) & (c <= cc + 1)).astype(mx.float32)
    img = img + 0.1 * mx.random.normal(img.shape, key=k1)
    return img[..., None], labels


class MaxPool2x2(nn.Module):
    def __call__(self, x):
        B, h, w, C = x.shape
        out = mx.zeros((B, h // 2, w // 2, C), dtype=x.dtype)
        for i in range(h // 2):
            for j in range(w // 2):
                window = x[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2, :]
                out[:, i, j, :] = mx.max(window, axis=(1, 2))
        return out


class BlobNet(nn.Module):
    def __init__(self, ch=6):
        super().__init__()
        self.conv = nn.Conv2d(1, ch, kernel_size=3, padding=1)
        self.pool = MaxPool2x2()
        self.fc = nn.Linear(ch * (H // 2) * (W // 2), 2)

    def __call__(self, x):
        x = self.pool(nn.relu(self.conv(x)))
        return self.fc(x.reshape(x.shape[0], -1))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y, bs=64):
    hits = 0
    for s in range(0, x.shape[0], bs):
        hits += (mx.argmax(model(x[s : s + bs]), axis=1) == y[s : s + bs]).sum().item()
    return hits / x.shape[0]


def main():
    mx.random.seed(0)
    xtr, ytr = blob_images(1024, mx.random.key(1))
    xte, yte = blob_images(256, mx.random.key(2))
    cnn = BlobNet()
    sgd = optim.SGD(learning_rate=0.05, momentum=0.9)
    train_step = nn.value_and_grad(cnn, functools.partial(xent, cnn))
    for epoch in range(4):
        for s in range(0, 1024, 64):
            loss, grads = train_step(xtr[s : s + 64], ytr[s : s + 64])
            sgd.update(cnn, grads)
            mx.eval(cnn.parameters(), sgd.state)
        print(f"epoch {epoch} loss {loss.item():.4f} test acc {evaluate(cnn, xte, yte):.3f}")


if __name__ == "__main__":
    main()
