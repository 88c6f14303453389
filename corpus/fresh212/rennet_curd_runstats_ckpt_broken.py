# Curd-firmness classifier for a rennet vat sensor rig.
# Trains a small MLP with a hand-rolled running-stats norm layer, keeps the
# best-validation checkpoint on disk, then reloads it into a fresh model and
# reports held-out accuracy of the restored model.
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class RunningNorm(nn.Module):
    """Batch-statistics normalisation with running averages for inference."""

    def __init__(self, dims, momentum=0.1, eps=1e-5):
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.weight = mx.ones((dims,))
        self.bias = mx.zeros((dims,))
        self._running_mean = mx.zeros((dims,))
        self._running_var = mx.ones((dims,))

    def __call__(self, x):
        if self.training:
            mean = mx.mean(x, axis=0)
            var = mx.var(x, axis=0)
            m = self.momentum
            self._running_mean = (1 - m) * self._running_mean + m * mean
            self._running_var = (1 - m) * self._running_var + m * var
        else:
            mean, var = self._running_mean, self._running_var
        x = (x - mean) * mx.rsqrt(var + self.eps)
        return self.weight * x + self.bias


class CurdNet(nn.Module):
    def __init__(self, d_in, hidden, n_cls):
        super().__init__()
        self.norm_in = RunningNorm(d_in)
        self.fc1 = nn.Linear(d_in, hidden)
        self.norm_h = RunningNorm(hidden)
        self.fc2 = nn.Linear(hidden, n_cls)

    def __call__(self, x):
        h = self.fc1(self.norm_in(x))
        h = nn.relu(self.norm_h(h))
        return self.fc2(h)


def make_vat_data(rng, n):
    # pH, temperature (C), rennet dose (ml), minutes since dosing, calcium (mg/l)
    ph = rng.normal(6.55, 0.08, n)
    temp = rng.normal(32.0, 1.5, n)
    dose = rng.normal(25.0, 4.0, n)
    mins = rng.uniform(5.0, 55.0, n)
    ca = rng.normal(1200.0, 90.0, n)
    score = (
        0.9 * (mins - 30) / 14
        + 0.7 * (temp - 32) / 1.5
        + 0.6 * (dose - 25) / 4
        - 0.8 * (ph - 6.55) / 0.08
        + 0.3 * (ca - 1200) / 90
    )
    y = np.digitize(score, [-0.9, 0.9])  # 0 soft, 1 set, 2 firm
    x = np.stack([ph, temp, dose, mins, ca], axis=1).astype(np.float32)
    return mx.array(x), mx.array(y.astype(np.int32))


def accuracy(model, x, y):
    model.eval()
    acc = mx.mean(mx.argmax(model(x), axis=1) == y).item()
    model.train()
    return acc


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xtr, ytr = make_vat_data(rng, 2400)
    xva, yva = make_vat_data(rng, 600)
    xte, yte = make_vat_data(rng, 600)

    model = CurdNet(5, 48, 3)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=3e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    ckpt = os.path.join(tempfile.mkdtemp(prefix="curd_"), "best.safetensors")
    best = -1.0
    bs = 64
    for epoch in range(1, 13):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        tot, nb = 0.0, 0
        for i in range(0, xtr.shape[0], bs):
            idx = perm[i : i + bs]
            loss, grads = step(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        va = accuracy(model, xva, yva)
        tag = ""
        if va > best:
            best = va
            model.save_weights(ckpt)
            tag = "  <- saved"
        print(f"epoch {epoch:2d} | train xent {tot / nb:.4f} | val acc {100 * va:5.1f}%{tag}")

    live_te = accuracy(model, xte, yte)
    restored = CurdNet(5, 48, 3)
    restored.load_weights(ckpt)
    mx.eval(restored.parameters())
    rest_te = accuracy(restored, xte, yte)
    print(f"best val acc {100 * best:.1f}% | test acc live model {100 * live_te:.1f}%")
    print(f"test acc restored checkpoint {100 * rest_te:.1f}%  (chance 33.3%)")


if __name__ == "__main__":
    main()
