"""Farrier workshop: wear-pattern grading of removed horseshoes.

Four wear classes (even, toe-drag, lateral, medial) from 12 raw bench
readings.  Small batches of 8 shoes, so the hidden layers use a
batch-renormalisation block (Ioffe 2017) whose r/d corrections open up
gradually.  Training is split over two sessions with a checkpoint between.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

CLASSES = ["even", "toe-drag", "lateral", "medial"]


def make_shoes(n, rng):
    y = rng.integers(0, 4, size=n)
    weeks = rng.uniform(4, 9, size=n)
    mass = rng.uniform(380, 720, size=n)
    wear = weeks * mass / 600.0
    base = 9.0 - 0.25 * wear
    toe = base - 0.9 * (y == 1) * wear / 6
    heel_l = base - 0.8 * (y == 2) * wear / 6
    heel_m = base - 0.8 * (y == 3) * wear / 6
    quarter_l = base - 0.5 * (y == 2) * wear / 6
    quarter_m = base - 0.5 * (y == 3) * wear / 6
    width = 120 + 0.08 * mass + rng.normal(0, 3, n)
    nail_loss = rng.poisson(0.3 + 0.4 * (y == 1), n).astype(np.float64)
    clip_wear = 1.0 + 0.6 * (y == 1) + rng.normal(0, 0.4, n)
    x = np.stack([toe, heel_l, heel_m, quarter_l, quarter_m, base,
                  weeks, mass, width, nail_loss, clip_wear,
                  rng.normal(15, 6, n)], axis=1)
    x[:, :6] += rng.normal(0, 0.22, (n, 6))
    return x.astype(np.float32), y.astype(np.int32)


class BatchRenorm(nn.Module):
    def __init__(self, dims, momentum=0.05, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.bias = mx.zeros((dims,))
        self.running_mean = mx.zeros((dims,))
        self.running_var = mx.ones((dims,))
        self.momentum = momentum
        self.eps = eps
        self.rmax = 1.0
        self.dmax = 0.0
        self.freeze(keys=["running_mean", "running_var"], recurse=False)

    def __call__(self, x):
        if not self.training:
            xh = (x - self.running_mean) * mx.rsqrt(self.running_var + self.eps)
            return self.weight * xh + self.bias
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        sig = mx.sqrt(var + self.eps)
        sig_run = mx.sqrt(self.running_var + self.eps)
        r = mx.stop_gradient(mx.clip(sig / sig_run, 1.0 / self.rmax, self.rmax))
        d = mx.stop_gradient(mx.clip((mu - self.running_mean) / sig_run,
                                     -self.dmax, self.dmax))
        xh = (x - mu) / sig * r + d
        m = self.momentum
        self.running_mean = (1 - m) * self.running_mean + m * mx.stop_gradient(mu)
        self.running_var = (1 - m) * self.running_var + m * mx.stop_gradient(var)
        return self.weight * xh + self.bias


class WearNet(nn.Module):
    def __init__(self, d_in=12, hidden=48, n_cls=4):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.n1 = BatchRenorm(hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.n2 = BatchRenorm(hidden)
        self.head = nn.Linear(hidden, n_cls)

    def set_limits(self, rmax, dmax):
        for n in (self.n1, self.n2):
            n.rmax, n.dmax = rmax, dmax

    def __call__(self, x):
        h = nn.relu(self.n1(self.l1(x)))
        h = nn.relu(self.n2(self.l2(h)))
        return self.head(h)


def limits(step):
    # plain batch norm for the first 100 steps, then r and d open up
    t = min(max(step - 100, 0) / 600.0, 1.0)
    return 1.0 + 2.0 * t, 5.0 * t


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def evaluate(model, x, y):
    model.eval()
    logits = model(x)
    ce = nn.losses.cross_entropy(logits, y, reduction="mean").item()
    acc = (mx.argmax(logits, axis=1) == y).astype(mx.float32).mean().item()
    model.train()
    return ce, 100 * acc


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, 80), optim.cosine_decay(3e-3, 1400, 2e-4)],
        [80])
    return optim.Adam(learning_rate=sched)


def run_epochs(model, opt, xtr, ytr, xva, yva, first, last, rng, B, base_acc):
    vg = nn.value_and_grad(model, loss_fn)
    n = len(ytr)
    for ep in range(first, last + 1):
        perm = rng.permutation(n)
        tot = 0.0
        for i in range(0, n - B + 1, B):
            step = int(opt.step.item())
            model.set_limits(*limits(step))
            idx = mx.array(perm[i:i + B])
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        steps = n // B
        ce, acc = evaluate(model, xva, yva)
        lr = opt.learning_rate.item()
        rmax, dmax = limits(int(opt.step.item()))
        print(f"shoe-card ep={ep:02d} step={int(opt.step.item()):4d} lr={lr:.2e} "
              f"rmax={rmax:.2f} dmax={dmax:.2f} train_ce={tot / steps:.4f} "
              f"val_ce={ce:.4f} val_acc={acc:5.1f}% majority={base_acc:4.1f}%")


def main():
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    xtr, ytr = make_shoes(1600, rng)
    xva, yva = make_shoes(500, rng)
    xtr, ytr, xva, yva = map(mx.array, (xtr, ytr, xva, yva))
    base_acc = 100 * np.bincount(np.array(yva)).max() / len(np.array(yva))
    B = 8
    t0 = time.time()

    model = WearNet()
    opt = make_optimizer()
    mx.eval(model.parameters())
    ce0, acc0 = evaluate(model, xva, yva)
    print(f"bench: 1600 shoes train, 500 held out, batch {B}, "
          f"untrained val_ce={ce0:.3f} val_acc={acc0:.1f}%")
    print(f"lr at step 0 = {opt.learning_rate.item():.1e}")

    ckpt = tempfile.mkdtemp()
    print("session A")
    run_epochs(model, opt, xtr, ytr, xva, yva, 1, 4, rng, B, base_acc)
    model.save_weights(os.path.join(ckpt, "wearnet.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "adam.safetensors"),
                        dict(tree_flatten(opt.state)))
    ce_a, acc_a = evaluate(model, xva, yva)
    del model, opt

    print("session B (reloaded from card box)")
    model = WearNet()
    model.load_weights(os.path.join(ckpt, "wearnet.safetensors"))
    opt = make_optimizer()
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "adam.safetensors")).items()))
    ce_b, acc_b = evaluate(model, xva, yva)
    print(f"restored at step {int(opt.step.item())}: val_ce {ce_a:.4f} -> {ce_b:.4f}, "
          f"val_acc {acc_a:.1f}% -> {acc_b:.1f}%")
    run_epochs(model, opt, xtr, ytr, xva, yva, 5, 7, rng, B, base_acc)

    model.eval()
    pred = np.array(mx.argmax(model(xva), axis=1))
    yv = np.array(yva)
    for c, name in enumerate(CLASSES):
        m = yv == c
        print(f"  recall {name:9s} {100 * (pred[m] == c).mean():5.1f}%  (n={m.sum()})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
