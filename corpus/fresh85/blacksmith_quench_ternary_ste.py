"""Blacksmith's forge log: predict Rockwell hardness (HRC) of a quenched blade
from quench/temper settings, with a TERNARY-weight network (weights in
{-a, 0, +a}) trained by a straight-through estimator on fp32 latent weights.
Learning rate warms up from exactly 0."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s forge | %(message)s")
log = logging.getLogger("forge")


def make_data(n, rng):
    carbon = rng.uniform(0.4, 1.1, n)            # % C
    quench_t = rng.uniform(760, 880, n)          # C at quench
    oil = rng.integers(0, 2, n)                  # 0 water / 1 oil
    temper_t = rng.uniform(150, 450, n)          # C
    temper_min = rng.uniform(30, 180, n)
    thick = rng.uniform(2, 8, n)                 # mm
    hrc = (30 + 32 * np.tanh(2.5 * (carbon - 0.35))
           + 0.03 * (quench_t - 780) - 3.5 * oil
           - 0.045 * (temper_t - 150) * (1 + 0.002 * temper_min)
           - 0.6 * np.maximum(thick - 5, 0) ** 1.5
           + rng.normal(0, 0.8, n))
    x = np.stack([carbon, quench_t, oil, temper_t, temper_min, thick], 1)
    return x.astype(np.float32), hrc.astype(np.float32)


def ternarize(w):
    # per-tensor threshold 0.7 * mean|w|, scale = mean of surviving |w|
    thr = 0.7 * mx.mean(mx.abs(w))
    mask = (mx.abs(w) > thr).astype(w.dtype)
    scale = mx.sum(mx.abs(w) * mask) / mx.maximum(mx.sum(mask), 1.0)
    q = scale * mx.sign(w) * mask
    # straight-through: forward uses q, backward passes the gradient to w
    return w + mx.stop_gradient(q - w)


class TernaryLinear(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        lim = (6.0 / (d_in + d_out)) ** 0.5
        self.weight = mx.random.uniform(-lim, lim, (d_out, d_in))
        self.bias = mx.zeros((d_out,))

    def __call__(self, x):
        return x @ ternarize(self.weight).T + self.bias


class HardnessNet(nn.Module):
    def __init__(self, d_in=6, width=96):
        super().__init__()
        self.l1 = TernaryLinear(d_in, width)
        self.l2 = TernaryLinear(width, width)
        self.head = nn.Linear(width, 1)   # full precision output layer

    def __call__(self, x):
        h = nn.relu(self.l1(x))
        h = nn.relu(self.l2(h))
        return self.head(h).squeeze(-1)


def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    xtr, ytr = make_data(9000, rng)
    xte, yte = make_data(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr, Xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
    Ytr, Yte = mx.array((ytr - ymu) / ysd), mx.array(yte)
    log.info("blades: %d train / %d test, hardness %.1f +- %.1f HRC, noise 0.8 HRC",
             len(ytr), len(yte), ymu, ysd)

    model = HardnessNet()
    mx.eval(model.parameters())
    total_steps, warm = 2400, 200
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm),
         optim.cosine_decay(3e-3, total_steps - warm, 3e-5)], [warm])
    opt = optim.Adam(learning_rate=sched)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def test_rmse():
        pred = model(Xte) * ysd + ymu
        return float(mx.sqrt(mx.mean((pred - Yte) ** 2)))

    log.info("untrained: test RMSE %.2f HRC (predict-mean %.2f HRC)",
             test_rmse(), float(np.sqrt(np.mean((yte - ymu) ** 2))))

    bs, cursor = 64, 0
    perm = rng.permutation(len(ytr))
    window = []
    for step in range(1, total_steps + 1):
        if cursor + bs > len(perm):
            perm, cursor = rng.permutation(len(ytr)), 0
        idx = mx.array(perm[cursor:cursor + bs])
        cursor += bs
        lr_now = float(sched(opt.step))
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
            log.info("first step: %d gradient leaves, zero-gradient leaves %s, lr used %.1e",
                     len(flat), zero, lr_now)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step in (1, 50) or step % 400 == 0:
            l1 = ternarize(model.l1.weight)
            nz = float(mx.mean((mx.abs(l1) > 0).astype(mx.float32)))
            log.info("step %4d  lr %.2e  train mse(std) %.4f  test RMSE %.2f HRC  "
                     "l1 nonzero %.0f%%  %.1fs",
                     step, lr_now, float(np.mean(window)), test_rmse(), 100 * nz,
                     time.time() - t0)
            window = []
    vals = np.unique(np.round(np.array(ternarize(model.l2.weight)), 6))
    log.info("done: l2 effective weight levels %s, %.1fs", vals.tolist(), time.time() - t0)


if __name__ == "__main__":
    main()
