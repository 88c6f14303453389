"""Pretrain a small encoder on task A, then linear-probe a fresh head on task B.

Phase 2 keeps the encoder frozen and trains only the new head plus a
learnable logit temperature (CLIP-style logit_scale).
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Encoder(nn.Module):
    def __init__(self, d_in, d_hid):
        super().__init__()
        self.l1 = nn.Linear(d_in, d_hid)
        self.l2 = nn.Linear(d_hid, d_hid)

    def __call__(self, x):
        return nn.silu(self.l2(nn.silu(self.l1(x))))


class Classifier(nn.Module):
    def __init__(self, d_in, d_hid, n_cls):
        super().__init__()
        self.encoder = Encoder(d_in, d_hid)
        self.head = nn.Linear(d_hid, n_cls)
        self.logit_scale = mx.array([1.0])

    def __call__(self, x):
        return self.logit_scale * self.head(self.encoder(x))


def make_centers(d, n_cls, seed):
    return np.random.default_rng(seed).normal(scale=0.8, size=(n_cls, d)).astype(np.float32)


def make_task(n, centers, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(centers), size=n)
    x = centers[y] + rng.normal(size=(n, centers.shape[1])).astype(np.float32)
    return x.astype(np.float32), y.astype(np.int32)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=1) == y).mean().item()


def fit(model, opt, x, y, steps, bs, tag, rng):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(x), size=bs)
        xb, yb = mx.array(x[idx]), mx.array(y[idx])
        loss, grads = grad_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 50 == 0:
            print(f"[{tag}] step {step:4d} loss {loss.item():.4f} acc {accuracy(model, xb, yb):.3f}")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    D, H = 24, 64

    # ---- phase 1: pretrain on task A (6 classes) ----
    xa, ya = make_task(6000, make_centers(D, 6, seed=1), seed=11)
    model = Classifier(D, H, 6)
    mx.eval(model.parameters())
    fit(model, optim.Adam(learning_rate=3e-3), xa, ya, 300, 64, "pretrain", rng)

    # ---- phase 2: new head for task B (4 classes), encoder frozen ----
    centers_b = make_centers(D, 4, seed=2)
    xb, yb = make_task(6000, centers_b, seed=12)
    model.head = nn.Linear(H, 4)
    model.logit_scale = mx.array([1.0])
    model.freeze()
    model.head.unfreeze()
    model.unfreeze(keys=["logit_scale"], recurse=False)
    mx.eval(model.parameters())
    fit(model, optim.Lion(learning_rate=1e-3), xb, yb, 600, 64, "probe", rng)

    xt, yt = make_task(2000, centers_b, seed=13)
    print(f"task B held-out acc: {accuracy(model, mx.array(xt), mx.array(yt)):.3f}")


if __name__ == "__main__":
    main()
