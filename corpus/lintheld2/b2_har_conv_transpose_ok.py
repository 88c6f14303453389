# Human-activity recognition from 3-axis accelerometer windows.
# Windows are stored as (batch, time, axis) like the CSV they came from.
from dataclasses import dataclass

import mlx.core as core
import mlx.nn as nn
import mlx.optimizers as optim


@dataclass
class Config:
    window: int = 48
    n_axes: int = 3
    n_classes: int = 4
    channels: int = 16
    batch: int = 32
    epochs: int = 4
    lr: float = 3e-3
    seed: int = 1


def synth_windows(cfg, n):
    """Each activity is a sinusoid with its own frequency on one axis, plus noise."""
    labels = core.random.randint(0, cfg.n_classes, (n,))
    t = core.arange(cfg.window).astype(core.float32)[None, :]
    freq = (labels.astype(core.float32)[:, None] + 1.0) * 0.25
    wave = core.sin(freq * t)                                   # (n, time)
    axis_sel = (labels[:, None] % cfg.n_axes) == core.arange(cfg.n_axes)[None, :]
    sig = wave[:, :, None] * axis_sel[:, None, :].astype(core.float32)  # (n, time, axes)
    sig = sig + 1.0 * core.random.normal(sig.shape)
    return sig, labels


class ActivityNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.conv1 = nn.Conv1d(cfg.n_axes, cfg.channels, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(cfg.channels, cfg.channels, kernel_size=5, padding=2)
        self.head = nn.Linear(cfg.channels, cfg.n_classes)

    def __call__(self, x):
        # x: (batch, time, axes): MLX convolutions take channels last already
        x = nn.gelu(self.conv1(x))
        x = nn.gelu(self.conv2(x))
        return self.head(x.mean(axis=1))


def batches(x, y, size):
    perm = core.random.permutation(x.shape[0])
    for i in range(0, x.shape[0], size):
        sel = perm[i:i + size]
        yield x[sel], y[sel]


def run(cfg):
    core.random.seed(cfg.seed)
    xs, ys = synth_windows(cfg, 512)
    net = ActivityNet(cfg)
    opt = optim.Adam(learning_rate=cfg.lr)

    def xent(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb).mean()

    step_fn = nn.value_and_grad(net, xent)
    for epoch in range(cfg.epochs):
        total, nb = 0.0, 0
        for xb, yb in batches(xs, ys, cfg.batch):
            loss, grads = step_fn(net, xb, yb)
            opt.update(net, grads)
            core.eval(net.parameters(), opt.state)
            total += loss.item()
            nb += 1
        acc = (core.argmax(net(xs), axis=-1) == ys).mean().item()
        print(f"epoch {epoch} loss {total / nb:.4f} acc {acc:.3f}")


if __name__ == "__main__":
    run(Config())
