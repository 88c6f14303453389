# Sensor-window classifier; inputs standardised with per-channel stats from the train split.
import logging
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("sensor")

rng = np.random.default_rng(7)
CH, T, K = 5, 24, 3  # channels, window length, classes


def make_split(n):
    y = rng.integers(0, K, size=n)
    t = np.linspace(0, 1, T)
    x = np.zeros((n, T, CH), np.float32)
    for i in range(n):
        f = 2.0 + 0.5 * y[i]
        x[i, :, 0] = 20.0 + 1.0 * np.sin(2 * np.pi * f * t) + rng.normal(0, 1.5, T)   # temperature
        x[i, :, 1] = 1000 + 2 * (y[i] - 1) + rng.normal(0, 8, T)                       # pressure
        x[i, :, 2] = rng.normal(0, 1, T)                                                 # vibration
        x[i, :, 3] = 1.0                                                                 # 'device on' flag
        x[i, :, 4] = 50 + 1.5 * np.cos(2 * np.pi * f * t + y[i]) + rng.normal(0, 4, T)     # humidity
    return x, y.astype(np.int32)


class Normalize:
    """(x - mean) / std, per channel."""

    def __init__(self, mean, std):
        self.mean = mx.array(mean, dtype=mx.float32)
        self.std = mx.array(std, dtype=mx.float32)

    def __call__(self, x):
        return (x - self.mean) / self.std


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(CH, 16, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(16, 32)
        self.fc2 = nn.Linear(32, K)

    def __call__(self, x):
        h = nn.relu(self.conv(x)).mean(axis=1)
        return self.fc2(nn.relu(self.fc1(h)))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


xtr, ytr = make_split(1536)
xva, yva = make_split(384)
mean = xtr.reshape(-1, CH).mean(axis=0)
std = xtr.reshape(-1, CH).std(axis=0)
norm = Normalize(mean, std)
log.info("channel mean=%s std=%s", np.round(mean, 2).tolist(), np.round(std, 3).tolist())

Xtr, Ytr = norm(mx.array(xtr)), mx.array(ytr)
Xva, Yva = norm(mx.array(xva)), mx.array(yva)

model = Net()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=1e-3, weight_decay=1e-2)
vg = nn.value_and_grad(model, loss_fn)

bs, steps = 64, 600
for it in range(1, steps + 1):
    ids = mx.array(rng.integers(0, Xtr.shape[0], size=bs))
    loss, grads = vg(model, Xtr[ids], Ytr[ids])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0 or it == 10:
        acc = (mx.argmax(model(Xva), axis=1) == Yva).mean().item()
        log.info("step %4d  loss %.4f  val_acc %.3f", it, loss.item(), acc)
