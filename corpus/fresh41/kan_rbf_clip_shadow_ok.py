# FastKAN-style classifier (Gaussian RBF basis per input feature + linear
# mixing) on a synthetic 3-class "two moons + blob" problem, with a small
# SimpleTrainer-like loop (tqdm-free, prints one line per epoch).
import time
from dataclasses import dataclass

import numpy as np
import mlx.optimizers as optim
import mlx.core as mx
import mlx.nn as nn


@dataclass
class TrainArgs:
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    clip_grad_norm: bool = True


class RBFKANLayer(nn.Module):
    def __init__(self, d_in, d_out, n_grid=8, lo=-2.5, hi=2.5):
        super().__init__()
        self._centers = mx.linspace(lo, hi, n_grid)
        self._inv_h = (n_grid - 1) / (hi - lo)
        self.norm = nn.LayerNorm(d_in)
        self.spline = nn.Linear(d_in * n_grid, d_out)
        self.base = nn.Linear(d_in, d_out)

    def __call__(self, x):
        xn = self.norm(x)
        phi = mx.exp(-(((xn[..., None] - self._centers) * self._inv_h) ** 2))
        return self.spline(phi.reshape(*x.shape[:-1], -1)) + self.base(nn.silu(x))


class KAN(nn.Module):
    def __init__(self, widths):
        super().__init__()
        self.layers = [RBFKANLayer(a, b) for a, b in zip(widths[:-1], widths[1:])]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def make_data(n, rng):
    k = rng.integers(0, 3, n)
    t = rng.uniform(0, np.pi, n)
    x = np.where(k[:, None] == 0, np.stack([np.cos(t), np.sin(t)], 1),
                 np.where(k[:, None] == 1, np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
                          np.stack([0.5 + 0.3 * np.cos(3 * t), -1.2 + 0.3 * np.sin(3 * t)], 1)))
    x = x + rng.normal(0, 0.12, x.shape)
    return mx.array(x.astype(np.float32)), mx.array(k.astype(np.int32))


def loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y).item()


def batch_iterate(batch_size, X, y, rng):
    perm = rng.permutation(y.size)
    for s in range(0, y.size, batch_size):
        ids = mx.array(perm[s:s + batch_size])
        yield X[ids], y[ids]


def train_epoch_batched(
        model: nn.Module,
        optimizer: optim.Optimizer,
        train_inputs: mx.array,
        train_labels: mx.array,
        batch_size: int,
        loss_and_grad_fn,
        rng,
        clip_grad_norm: bool = False
):
    total_loss, num_batches = 0.0, 0
    model.train()
    for X, y in batch_iterate(batch_size, train_inputs, train_labels, rng):
        loss, grads = loss_and_grad_fn(model, X, y)
        if mx.isnan(loss).any():
            raise ValueError("Encountered NaN in loss")
        if clip_grad_norm:
            optim.clip_grad_norm(grads, max_norm=1.0)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
        total_loss += loss.item()
        num_batches += 1
    return total_loss / num_batches


def main():
    args = TrainArgs()
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    Xtr, ytr = make_data(1500, rng)
    Xva, yva = make_data(500, rng)
    model = KAN([2, 12, 3])
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=args.learning_rate, weight_decay=args.weight_decay)
    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

    model.eval()
    print(f"epoch   0 | train_loss    --    | val_acc {eval_fn(model, Xva, yva):.3f}")
    t0 = time.time()
    for epoch in range(1, args.epochs + 1):
        tr_loss = train_epoch_batched(model, opt, Xtr, ytr, args.batch_size, loss_and_grad_fn,
                                      rng, clip_grad_norm=args.clip_grad_norm)
        model.eval()
        print(f"epoch {epoch:3d} | train_loss {tr_loss:.4f} | val_acc {eval_fn(model, Xva, yva):.3f}"
              f" | {time.time() - t0:5.1f}s")
    print(f"final validation accuracy: {eval_fn(model, Xva, yva):.3f}")


if __name__ == "__main__":
    main()
