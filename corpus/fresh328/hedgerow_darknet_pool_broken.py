"""Tiny YOLO-style grid detector on synthetic 'hedgerow survey' tiles.

Each 32x32 tile holds one coloured blob (bird box / hedgehog house / bat box).
The net predicts, per 4x4 grid cell: objectness, box (cx, cy, w, h) and class.
"""
import time
from dataclasses import dataclass
from typing import List, Optional

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

INPUT_SIZE = 32
S, C = 4, 3


@dataclass
class ConvConfig:
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    padding: Optional[int] = None

    def __post_init__(self):
        if self.padding is None:
            self.padding = self.kernel_size // 2


class DarkNetBlock(nn.Module):
    def __init__(self, in_channels: int, config: ConvConfig):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, config.out_channels,
                              kernel_size=config.kernel_size,
                              stride=config.stride, padding=config.padding)
        self.bn = nn.BatchNorm(config.out_channels)
        self.relu = nn.ReLU()

    def __call__(self, x):
        return self.relu(self.bn(self.conv(x)))


class DarkNetBackbone(nn.Module):
    def __init__(self, config: List[ConvConfig], input_channels: int = 3, target_size: int = 7):
        super().__init__()
        self.target_size = target_size

        # Build backbone layers
        self.layers = []
        in_channels = input_channels

        for i, conv_config in enumerate(config):
            self.layers.append(DarkNetBlock(in_channels, conv_config))
            in_channels = conv_config.out_channels

        # Register layers as attributes
        for i, layer in enumerate(self.layers):
            setattr(self, f"block_{i}", layer)

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)

        # Calculate current feature map size
        curr_size = x.shape[2]  # Assuming square feature maps

        # Add pooling if needed to reach target size
        if curr_size > self.target_size:
            pool_size = curr_size // self.target_size
            if pool_size > 1:
                x = nn.MaxPool2d(x, kernel_size=pool_size, stride=pool_size)

        return x


class YOLO(nn.Module):
    def __init__(self, S=4, C=3):
        super().__init__()
        self.S, self.C = S, C
        backbone_config = [
            ConvConfig(8),
            ConvConfig(12, stride=2),   # 32 -> 16
            ConvConfig(16),
            ConvConfig(8, kernel_size=1),
            ConvConfig(16, stride=2),   # 16 -> 8
            ConvConfig(24),
        ]
        self.backbone = DarkNetBackbone(backbone_config, input_channels=3, target_size=S)
        self.detect = DarkNetBlock(24, ConvConfig(24))
        self.conv_final = nn.Conv2d(24, 5 + C, kernel_size=1)

    def __call__(self, x):
        x = self.backbone(x)
        x = self.detect(x)
        return self.conv_final(x)  # (N, S, S, 5 + C)


COLOURS = np.array([[1.0, 0.2, 0.1], [0.1, 0.9, 0.2], [0.2, 0.3, 1.0]], np.float32)


def make_tiles(n, rng):
    imgs = rng.normal(0.0, 0.15, (n, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)
    target = np.zeros((n, S, S, 5 + C), np.float32)
    cell = INPUT_SIZE / S
    for i in range(n):
        k = rng.integers(C)
        w, h = rng.integers(5, 12, size=2)
        x0 = rng.integers(0, INPUT_SIZE - w)
        y0 = rng.integers(0, INPUT_SIZE - h)
        imgs[i, y0:y0 + h, x0:x0 + w] += COLOURS[k]
        cx, cy = x0 + w / 2, y0 + h / 2
        gx, gy = int(cx // cell), int(cy // cell)
        target[i, gy, gx, 0] = 1.0
        target[i, gy, gx, 1:5] = [cx / cell - gx, cy / cell - gy, w / INPUT_SIZE, h / INPUT_SIZE]
        target[i, gy, gx, 5 + k] = 1.0
    return mx.array(imgs), mx.array(target)


def yolo_loss(model, x, t):
    p = model(x)
    obj = t[..., 0]
    l_obj = nn.losses.binary_cross_entropy(p[..., 0], obj, with_logits=True, reduction="mean")
    box = mx.sigmoid(p[..., 1:5])
    l_box = (obj[..., None] * (box - t[..., 1:5]) ** 2).sum() / obj.sum()
    ce = nn.losses.cross_entropy(p[..., 5:], mx.argmax(t[..., 5:], axis=-1), reduction="none")
    l_cls = (obj * ce).sum() / obj.sum()
    return l_obj + 5.0 * l_box + l_cls


def evaluate(model, x, t):
    p = model(x)
    n = x.shape[0]
    flat_p = p[..., 0].reshape(n, -1)
    flat_t = t[..., 0].reshape(n, -1)
    hit = mx.argmax(flat_p, axis=1) == mx.argmax(flat_t, axis=1)
    cls_p = mx.argmax(p[..., 5:], axis=-1)
    cls_t = mx.argmax(t[..., 5:], axis=-1)
    cls_ok = ((cls_p == cls_t) * t[..., 0]).sum() / t[..., 0].sum()
    return hit.mean().item(), cls_ok.item()


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    x_tr, t_tr = make_tiles(768, rng)
    x_va, t_va = make_tiles(256, rng)
    model = YOLO(S=S, C=C)
    opt = optim.Adam(learning_rate=2e-3)
    loss_and_grad = nn.value_and_grad(model, yolo_loss)
    print(f"tiles: train {x_tr.shape[0]}  valid {x_va.shape[0]}  grid {S}x{S}  classes {C}")
    bs = 64
    t0 = time.perf_counter()
    for epoch in range(1, 7):
        model.train()
        perm = mx.array(rng.permutation(x_tr.shape[0]))
        tot = 0.0
        nb = 0
        for i in range(0, x_tr.shape[0], bs):
            idx = perm[i:i + bs]
            loss, grads = loss_and_grad(model, x_tr[idx], t_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        model.eval()
        cell_acc, cls_acc = evaluate(model, x_va, t_va)
        print(f"Epoch {epoch}: train loss {tot / nb:.4f}  valid cell-hit {cell_acc:.3f}  "
              f"valid class acc {cls_acc:.3f}  time {time.perf_counter() - t0:.1f}s")
    print("done")


if __name__ == "__main__":
    main()
