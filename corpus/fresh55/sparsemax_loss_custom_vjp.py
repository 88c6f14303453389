"""6-class tabular classifier trained with the sparsemax loss (Martins & Astudillo
2016).  The loss is an mx.custom_function whose VJP is written by hand
(grad = sparsemax(z) - onehot(y)); a finite-difference check runs before training.
Adagrad, full-batch shuffles of 64, CSV rows on stdout."""
import csv
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def sparsemax(z):
    """Row-wise Euclidean projection onto the simplex (forward only)."""
    K = z.shape[-1]
    zs = mx.sort(z, axis=-1)[..., ::-1]
    cs = mx.cumsum(zs, axis=-1)
    k = mx.arange(1, K + 1, dtype=z.dtype)
    support = (1 + k * zs) > cs
    k_z = mx.sum(support, axis=-1, keepdims=True).astype(z.dtype)
    tau = (mx.take_along_axis(cs, k_z.astype(mx.int32) - 1, axis=-1) - 1) / k_z
    return mx.maximum(z - tau, 0.0), tau


@mx.custom_function
def sparsemax_loss(z, onehot):
    p, tau = sparsemax(z)
    in_s = (p > 0).astype(z.dtype)
    per = -mx.sum(z * onehot, -1) + 0.5 * mx.sum(in_s * (z * z - tau * tau), -1) + 0.5
    return mx.mean(per)


@sparsemax_loss.vjp
def _sparsemax_loss_vjp(primals, cotangent, output):
    z, onehot = primals
    p, _ = sparsemax(z)
    g = (p - onehot) * cotangent / z.shape[0]
    return g, mx.zeros_like(onehot)


def make_data(rng, centers, n):
    y = rng.integers(0, 6, n)
    x = centers[y] + rng.normal(scale=1.3, size=(n, 12))
    x[:, :3] += 0.6 * x[:, 3:6] ** 2 / 4  # mild nonlinearity
    return x.astype(np.float32), y.astype(np.int32)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(12, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 6)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    centers = rng.normal(scale=1.0, size=(6, 12))
    xtr, ytr = make_data(rng, centers, 12000)
    xva, yva = make_data(rng, centers, 3000)
    Xva, Yva = mx.array(xva), mx.array(yva)
    eye = mx.eye(6)

    # finite-difference check of the hand-written VJP
    z0 = mx.random.normal((4, 6))
    oh0 = eye[mx.array([0, 3, 5, 1])]
    g_auto = mx.grad(sparsemax_loss)(z0, oh0)
    eps, fd = 1e-3, np.zeros((4, 6), np.float32)
    for i in range(4):
        for j in range(6):
            d = np.zeros((4, 6), np.float32); d[i, j] = eps
            fd[i, j] = (sparsemax_loss(z0 + mx.array(d), oh0).item()
                        - sparsemax_loss(z0 - mx.array(d), oh0).item()) / (2 * eps)
    err = float(np.abs(np.array(g_auto) - fd).max())
    assert err < 1e-2, err

    model = Net()
    mx.eval(model.parameters())
    opt = optim.Adagrad(learning_rate=0.05)

    def loss_fn(m, x, y):
        return sparsemax_loss(m(x), eye[y])

    step = nn.value_and_grad(model, loss_fn)
    _, g0 = step(model, mx.array(xtr[:64]), mx.array(ytr[:64]))
    dead = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
    assert not dead, dead

    w = csv.writer(sys.stdout)
    w.writerow(["epoch", "train_sparsemax_loss", "val_sparsemax_loss", "val_acc",
                "mean_support", "fd_err"])
    for epoch in range(1, 26):
        perm = rng.permutation(len(xtr))
        tot, nb = 0.0, 0
        for b in range(0, len(xtr), 64):
            idx = perm[b:b + 64]
            loss, grads = step(model, mx.array(xtr[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); nb += 1
        if epoch % 3 == 1 or epoch == 25:
            zva = model(Xva)
            pva, _ = sparsemax(zva)
            vloss = sparsemax_loss(zva, eye[Yva]).item()
            acc = (mx.argmax(zva, -1) == Yva).astype(mx.float32).mean().item()
            supp = (pva > 0).sum(-1).astype(mx.float32).mean().item()
            w.writerow([epoch, f"{tot / nb:.4f}", f"{vloss:.4f}", f"{acc:.3f}",
                        f"{supp:.2f}", f"{err:.1e}"])
            sys.stdout.flush()


if __name__ == "__main__":
    main()
