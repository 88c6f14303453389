"""Fish-counting weir: which salmonid swam through the counting tunnel.

Four species (chinook, coho, sockeye, steelhead) from 8 synthetic tunnel
readings.  The classifier regularises its weight matrices with DropConnect
(Bernoulli mask on the weights while training) and an L2 penalty written into
the objective for matrices only (biases are left alone).

Stage "rough": DropConnect keep 0.7, SGD momentum, step-decayed lr.
Stage "settle": DropConnect switched off, fresh optimizer with a small lr.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

SPECIES = ["chinook", "coho", "sockeye", "steelhead"]
N_TRAIN, N_VALID = 9000, 2000
L2 = 2e-4
BATCH = 100


def make_fish(n):
    cls = rng.choice(4, size=n, p=[0.22, 0.33, 0.30, 0.15])
    length = np.array([82, 62, 58, 70])[cls] + rng.normal(0, 9, n)          # cm
    depth_ratio = np.array([0.24, 0.22, 0.27, 0.20])[cls] + rng.normal(0, 0.02, n)
    spot_density = np.array([0.8, 0.45, 0.1, 0.6])[cls] + rng.normal(0, 0.18, n)
    red_hue = np.array([0.25, 0.35, 0.75, 0.30])[cls] + rng.normal(0, 0.15, n)
    tail_fork = np.array([0.30, 0.35, 0.40, 0.15])[cls] + rng.normal(0, 0.08, n)
    speed = np.array([1.1, 1.4, 1.3, 1.6])[cls] + rng.normal(0, 0.35, n)    # body lengths/s
    hour = rng.uniform(0, 24, n)
    water_temp = rng.normal(11, 2.5, n)
    x = np.stack([
        (length - 68) / 12, (depth_ratio - 0.23) / 0.03, spot_density,
        red_hue, tail_fork * 3, speed, np.sin(hour / 24 * 2 * np.pi),
        (water_temp - 11) / 2.5,
    ], axis=1).astype(np.float32)
    return x, cls.astype(np.int32)


class DropConnectLinear(nn.Module):
    def __init__(self, idim, odim, keep):
        super().__init__()
        scale = np.sqrt(2.0 / idim)
        self.weight = mx.random.normal((odim, idim)) * scale
        self.bias = mx.zeros((odim,))
        self.keep = keep

    def __call__(self, x):
        w = self.weight
        if self.training and self.keep < 1.0:
            mask = mx.random.bernoulli(self.keep, w.shape)
            w = mx.where(mask, w, 0.0) / self.keep
        return x @ w.T + self.bias


class WeirNet(nn.Module):
    def __init__(self, keep):
        super().__init__()
        self.l1 = DropConnectLinear(8, 64, keep)
        self.l2 = DropConnectLinear(64, 64, keep)
        self.out = nn.Linear(64, 4)

    def set_keep(self, keep):
        self.l1.keep = keep
        self.l2.keep = keep

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.out(h)


def matrix_penalty(params):
    return sum(mx.sum(v * v) for k, v in tree_flatten(params) if v.ndim >= 2)


def main():
    t0 = time.time()
    xtr, ytr = make_fish(N_TRAIN)
    xva, yva = make_fish(N_VALID)
    Xtr, Ytr = mx.array(xtr), mx.array(ytr)
    Xva, Yva = mx.array(xva), mx.array(yva)

    majority = float(np.mean(yva == np.bincount(ytr).argmax()))
    cents = np.stack([xtr[ytr == c].mean(0) for c in range(4)])
    nc_pred = np.argmin(((xva[:, None, :] - cents[None]) ** 2).sum(-1), axis=1)
    centroid = float(np.mean(nc_pred == yva))

    model = WeirNet(keep=0.7)
    mx.eval(model.parameters())

    def objective(m, xb, yb):
        data = nn.losses.cross_entropy(m(xb), yb, reduction="mean")
        pen = L2 * matrix_penalty(m.parameters())
        return data + pen, (data, pen)

    step_fn = nn.value_and_grad(model, objective)

    def evaluate():
        model.eval()
        logits = model(Xva)
        ce = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
        acc = mx.mean(mx.argmax(logits, axis=1) == Yva).item()
        model.train()
        return ce, acc

    ce0, acc0 = evaluate()
    print(f"weir; rows {N_TRAIN}/{N_VALID}; majority acc {100 * majority:.1f}%; "
          f"nearest-centroid acc {100 * centroid:.1f}%; untrained ce {ce0:.3f}; "
          f"untrained acc {100 * acc0:.1f}%")

    stages = [
        ("rough", 10, 0.7, optim.step_decay(0.05, 0.5, 4 * (N_TRAIN // BATCH))),
        ("settle", 4, 1.0, 0.004),
    ]
    model.train()
    epoch = 0
    for name, n_epochs, keep, lr in stages:
        model.set_keep(keep)
        opt = optim.SGD(learning_rate=lr, momentum=0.9)
        print(f"weir; stage {name}; dropconnect keep {keep}; fresh optimizer")
        for _ in range(n_epochs):
            epoch += 1
            perm = rng.permutation(N_TRAIN)
            tot = dat = pen = 0.0
            nb = N_TRAIN // BATCH
            for i in range(nb):
                idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
                (loss, (d, p)), grads = step_fn(model, Xtr[idx], Ytr[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss, d, p)
                tot += loss.item()
                dat += d.item()
                pen += p.item()
            ce, acc = evaluate()
            lr_now = opt.learning_rate.item()
            print(f"weir; stage {name}; epoch {epoch}; lr {lr_now:.4f}; "
                  f"objective {tot / nb:.4f}; data ce {dat / nb:.4f}; "
                  f"l2 term {pen / nb:.4f}; valid ce {ce:.4f}; "
                  f"valid acc {100 * acc:.2f}%; {time.time() - t0:.1f}s")
    print(f"weir; done; valid acc {100 * acc:.2f}% vs nearest-centroid "
          f"{100 * centroid:.1f}% and majority {100 * majority:.1f}%")


if __name__ == "__main__":
    main()
