# Tiny CNN that has to say in which quadrant of a 12x12 image a bright 2x2 patch sits.
# Pooling head: conv features -> AdaptiveAvgPool2d(2) -> 2x2xC grid -> linear.
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class AdaptiveAvgPool2d(nn.Module):
    """AdaptiveAvgPool2d (NHWC) -- port of torch.nn.AdaptiveAvgPool2d for MLX."""

    def __init__(self, output_size=1):
        super().__init__()
        self.output_size = output_size if isinstance(output_size, tuple) else (output_size, output_size)

    def __call__(self, x):
        B, H, W, C = x.shape
        x = x.reshape(
            B, H // self.output_size[0], self.output_size[0], W // self.output_size[1], self.output_size[1], C
        )
        x = mx.mean(x, axis=(1, 3))
        return x


class QuadrantNet(nn.Module):
    def __init__(self, channels=8, num_classes=4):
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.pool = AdaptiveAvgPool2d(2)
        self.head = nn.Linear(4 * channels, num_classes)

    def __call__(self, x):
        x = nn.relu(self.conv1(x))
        x = nn.relu(self.conv2(x))  # 12x12
        x = self.pool(x)  # -> 2x2
        x = x.reshape(x.shape[0], -1)
        return self.head(x)


def make_data(n, rng):
    imgs = rng.normal(0.0, 0.3, size=(n, 12, 12, 1)).astype(np.float32)
    labels = rng.integers(0, 4, size=n)
    for i, q in enumerate(labels):
        r0 = 2 if q in (0, 1) else 6
        c0 = 2 if q in (0, 2) else 6
        r = r0 + rng.integers(0, 3)  # keep the patch inside the quadrant, off the border
        c = c0 + rng.integers(0, 3)
        imgs[i, r : r + 2, c : c + 2, 0] += 2.0
    return imgs, labels.astype(np.int32)


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    xtr, ytr = make_data(1536, rng)
    xva, yva = make_data(512, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))

    model = QuadrantNet()
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, x, y):
        return nn.losses.cross_entropy(m(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    bs = 64
    t0 = time.time()
    for epoch in range(1, 13):
        perm = mx.array(np.random.default_rng(epoch).permutation(xtr.shape[0]))
        tot, nb = 0.0, 0
        for s in range(0, xtr.shape[0], bs):
            idx = perm[s : s + bs]
            loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        acc = mx.mean(mx.argmax(model(xva), axis=-1) == yva).item()
        print(f"epoch {epoch:2d} | train_loss {tot / nb:.4f} | val_acc {acc:.3f} | {time.time() - t0:5.1f}s")


if __name__ == "__main__":
    main()
