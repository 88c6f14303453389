import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import SGD

# Small ResNet on synthetic 12x12 "kiln glaze" swatches, 10 glaze classes.


class ResBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels, out_channels, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm(out_channels)
        self.downsample = downsample

    def __call__(self, x):
        cache = x
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        if self.downsample is not None:
            cache = self.downsample(cache)
        return self.relu(x + cache)


class ResNet(nn.Module):
    def __init__(self, block, layers, num_classes=10):
        super().__init__()
        self.in_channels = 8
        self.conv1 = nn.Conv2d(3, self.in_channels, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm(self.in_channels)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(block, 8, layers[0])
        self.layer2 = self._make_layer(block, 16, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 32, layers[2], stride=2)
        self.fc = nn.Linear(32 * block.expansion, num_classes)

    def _make_layer(self, block, out_channels, blocks, stride=1):
        downsample = None
        if stride != 1 or self.in_channels != out_channels * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_channels, out_channels * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm(out_channels * block.expansion),
            )
        layers = [block(self.in_channels, out_channels, stride=stride, downsample=downsample)]
        self.in_channels = out_channels * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.in_channels, out_channels))
        return nn.Sequential(*layers)

    def __call__(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = mx.mean(x, axis=(1, 2))
        return self.fc(x)


def make_swatches(n, templates, rng):
    labels = rng.integers(0, templates.shape[0], size=n)
    images = templates[labels] + 1.2 * rng.standard_normal((n, 12, 12, 3)).astype(np.float32)
    shift = rng.integers(-2, 3, size=n)
    for i in range(n):
        images[i] = np.roll(images[i], shift[i], axis=1)
    return images.astype(np.float32), labels


rng = np.random.default_rng(0)
mx.random.seed(0)
templates = rng.standard_normal((10, 12, 12, 3)).astype(np.float32)
train_images, train_labels = make_swatches(768, templates, rng)
test_images, test_labels = make_swatches(256, templates, rng)

# Hyperparameters
lr = 5e-2
momentum = 9e-1
dr = 1e-4
no_epochs = 6
batch_size = 64
layers = [1, 1, 1]

resnet = ResNet(ResBlock, layers)
mx.eval(resnet.parameters())


def loss_fn(model, X, y):
    logits = model(X)
    return mx.mean(nn.losses.cross_entropy(logits, y))


def eval_fn(model, X, y):
    model.eval()
    logits = model(X)
    model.train()
    return mx.mean(mx.argmax(logits, axis=1) == y)


loss_and_grad_fn = nn.value_and_grad(resnet, loss_fn)
optimizer = SGD(lr, momentum, dr)


def batch_iterate(batch_size, X, y):
    perm = np.random.permutation(len(X))
    for s in range(0, len(X), batch_size):
        ids = perm[s:s + batch_size]
        yield mx.array(X[ids]), mx.array(y[ids])


np.random.seed(0)
out_dir = tempfile.mkdtemp()
print(f"train {train_images.shape} test {test_images.shape} chance acc 0.100")
for i in range(no_epochs):
    tic = time.perf_counter()
    losses = []
    for X, y in batch_iterate(batch_size, train_images, train_labels):
        loss, grads = loss_and_grad_fn(resnet, X, y)
        optimizer.update(resnet, grads)
        mx.eval(resnet.parameters(), optimizer.state, loss)
        losses.append(loss.item())
    accuracy = eval_fn(resnet, mx.array(test_images), mx.array(test_labels))
    toc = time.perf_counter()
    print(
        f"Epoch {i}: Train loss {np.mean(losses):.4f},"
        f" Test accuracy {accuracy.item():.3f},"
        f" Time {toc - tic:.3f} (s)"
    )

resnet.save_weights(os.path.join(out_dir, 'resnet_kiln'))
print(f"weights written to {out_dir}")
