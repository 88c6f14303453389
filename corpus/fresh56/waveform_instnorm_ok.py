# Classify the shape of a short sampled waveform (sine / square / sawtooth /
# triangle) recorded with arbitrary gain and DC offset.  Each recording is
# normalised on its own with nn.InstanceNorm before a small MLP.
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

WIN = 96
SHAPES = ["sine", "square", "sawtooth", "triangle"]


def synth(rng, n):
    t = np.arange(WIN)[None, :] / WIN
    freq = rng.uniform(1.5, 4.0, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    u = (t * freq + phase) % 1.0
    y = rng.integers(0, 4, n)
    base = np.stack([np.sin(2 * np.pi * u), np.where(u < 0.5, 1.0, -1.0),
                     2 * u - 1, 1 - 4 * np.abs(u - 0.5)], axis=0)     # (4, n, WIN)
    x = base[y, np.arange(n)]
    gain = np.exp(rng.uniform(np.log(0.05), np.log(50.0), (n, 1)))
    offset = rng.uniform(-100, 100, (n, 1))
    x = gain * x + offset + gain * 0.15 * rng.normal(size=x.shape)
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


class ShapeNet(nn.Module):
    def __init__(self):
        super().__init__()
        # Input: (N, ..., C) where C == dims, at least 3 dimensions
        self.norm = nn.InstanceNorm(1)
        self.mlp = nn.Sequential(nn.Linear(WIN, 128), nn.ReLU(),
                                 nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, len(SHAPES)))

    def __call__(self, x):
        h = self.norm(x[..., None])[..., 0]
        return self.mlp(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    rng = np.random.default_rng(5)
    mx.random.seed(5)
    xva, yva = synth(rng, 2000)
    model = ShapeNet()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.05, momentum=0.9)
    vg = nn.value_and_grad(model, loss_fn)

    t0 = time.time()
    run = 0.0
    for step in range(1, 3001):
        x, y = synth(rng, 64)
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if step == 1 else 0.98 * run + 0.02 * loss.item()
        if step % 250 == 0:
            acc = mx.mean(mx.argmax(model(xva), axis=-1) == yva).item()
            print(json.dumps({"step": step, "ce_ema": round(run, 4), "val_acc": round(acc, 4),
                              "sec": round(time.time() - t0, 1)}))


if __name__ == "__main__":
    main()
