"""Tapestry loom log: which of 5 weave structures (plain, twill, satin, soumak, rya)
a woven sample is, from 10 measured thread features. Hand-written Adagrad over the
flattened parameter tree; the printed training loss is a plain EMA that starts at 0
(not bias-corrected), so it climbs for the first reports by construction."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

WEAVES = ("plain", "twill", "satin", "soumak", "rya")


def make_samples(n, rng):
    k = rng.integers(0, 5, size=n)
    warp_epi = rng.normal(12, 2, n) + 1.0 * (k == 2) - 1.0 * (k == 4)
    weft_ppi = rng.normal(30, 5, n) + 4.0 * (k == 2) + 3.0 * (k == 1)
    float_len = np.choose(k, [1.0, 2.0, 4.0, 1.5, 3.0]) + rng.normal(0, 1.6, n)
    diag_angle = np.choose(k, [0.0, 45.0, 10.0, 20.0, 0.0]) + rng.normal(0, 22, n)
    pile_mm = np.where(k == 4, rng.gamma(2, 2, n), rng.gamma(1.5, 1.5, n))
    wrap_count = np.where(k == 3, rng.poisson(2.0, n), rng.poisson(1.0, n)).astype(float)
    sheen = 0.2 + 0.5 * (k == 2) + rng.normal(0, 0.45, n)
    stiffness = rng.normal(1.0, 0.3, n) + 0.3 * (k == 3)
    thickness = rng.normal(1.2, 0.25, n) + 0.01 * pile_mm
    gsm = 200 + 8 * warp_epi + 3 * weft_ppi + rng.normal(0, 25, n)
    X = np.stack([warp_epi, weft_ppi, float_len, diag_angle, np.log1p(pile_mm),
                  wrap_count, sheen, stiffness, thickness, gsm], 1).astype(np.float32)
    return X, k.astype(np.int32)


class WeaveNet(nn.Module):
    def __init__(self, d_in=10, width=192, n_out=5):
        super().__init__()
        self.fc1 = nn.Linear(d_in, width)
        self.fc2 = nn.Linear(width, width)
        self.out = nn.Linear(width, n_out)

    def __call__(self, x):
        h = nn.relu(self.fc1(x))
        h = nn.relu(self.fc2(h)) + h
        return self.out(h)


class HandAdagrad:
    """Adagrad kept as flat (path, array) lists, rebuilt with tree_unflatten."""

    def __init__(self, lr=0.05, eps=1e-8):
        self.lr, self.eps = lr, eps
        self.acc = None

    def step(self, model, grads):
        flat_p = tree_flatten(model.trainable_parameters())
        flat_g = dict(tree_flatten(grads))
        if self.acc is None:
            self.acc = {k: mx.zeros_like(v) for k, v in flat_p}
        new = []
        for k, p in flat_p:
            g = flat_g[k]
            self.acc[k] = self.acc[k] + g * g
            new.append((k, p - self.lr * g / (mx.sqrt(self.acc[k]) + self.eps)))
        model.update(tree_unflatten(new))
        return list(self.acc.values())


def main():
    rng = np.random.default_rng(11)
    Xtr, ytr = make_samples(16000, rng)
    Xte, yte = make_samples(3000, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
    Xte_m, yte_m = mx.array(Xte), mx.array(yte)

    mx.random.seed(3)
    model = WeaveNet()
    mx.eval(model.parameters())
    opt = HandAdagrad(lr=0.05)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)

    def test_metrics():
        logits = model(Xte_m)
        ce = nn.losses.cross_entropy(logits, yte_m, reduction="mean").item()
        miss = (mx.argmax(logits, 1) != yte_m).astype(mx.float32).mean().item()
        return ce, 100.0 * miss

    ce0, miss0 = test_metrics()
    print(("legend", "loss_ema = EMA(0.98) of train CE in nats started at 0, NOT bias-corrected",
           "miss% = test error rate, lower is better"))
    print(("untrained", "test_ce", round(ce0, 4), "miss%", round(miss0, 2),
           "uniform_ce", round(math.log(5), 4)))

    batch, epochs = 128, 12
    early_reports = (1, 10, 25, 50, 100, 200)
    ema, beta, step = 0.0, 0.98, 0
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr))
        for i in range(0, len(perm) - batch + 1, batch):
            idx = mx.array(perm[i:i + batch])
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            if step == 0:
                flat = tree_flatten(grads)
                zero = [k for k, g in flat if mx.abs(g).max().item() == 0.0]
                print(("grad_check", "leaves", len(flat), "zero_leaves", zero))
            acc = opt.step(model, grads)
            mx.eval(model.parameters(), acc, loss)
            ema = beta * ema + (1 - beta) * loss.item()
            step += 1
            if step in early_reports:
                print(("step", step, "loss_ema", round(ema, 4), "raw_batch_ce", round(loss.item(), 4)))
        ce, miss = test_metrics()
        print(("epoch", epoch, "step", step, "loss_ema", round(ema, 4), "test_ce", round(ce, 4),
               "miss%", round(miss, 2), "secs", round(time.time() - t0, 1)))
    ce, miss = test_metrics()
    print(("done", "final_test_ce", round(ce, 4), "final_miss%", round(miss, 2),
           "weaves", WEAVES))


if __name__ == "__main__":
    main()
