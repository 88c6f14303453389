"""Cave survey: stalactite growth rate (mm per century) from drip-site readings.

Heteroscedastic Gaussian regression (mean + variance heads) trained on the
negative log-likelihood, so the loss is allowed to go below zero.  The variance
head goes through a softplus with a hand-written VJP.  Learning rate follows
SGDR (cosine with warm restarts), so the loss jumps back up at every restart.
One JSON object per epoch on stdout.
"""
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(141)

FEATS = ["drip_rate", "pco2", "temp", "calcium", "humidity", "ventilation"]


def make_caves(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, len(FEATS)), key=k1)
    drip, pco2, temp, ca, hum, vent = [x[:, i] for i in range(6)]
    mu = (0.9 * ca + 0.5 * pco2 - 0.35 * temp * vent
          + 0.4 * mx.sin(1.5 * drip) - 0.2 * hum ** 2)
    sd = 0.06 + 0.5 * mx.sigmoid(2.0 * vent - 0.5 * hum)
    y = mu + sd * mx.random.normal((n,), key=k2)
    # growth in mm / century, positive, log-normal-ish
    growth = 12.0 * mx.exp(0.35 * y)
    return x, growth


@mx.custom_function
def soft_pos(z):
    return mx.logaddexp(z, mx.zeros_like(z))


@soft_pos.vjp
def soft_pos_vjp(z, cotangent, output):
    return cotangent * mx.sigmoid(z)


class DripNet(nn.Module):
    def __init__(self, d_in, hidden=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.mean_head = nn.Linear(hidden, 1)
        self.scale_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        mu = self.mean_head(h).squeeze(-1)
        var = soft_pos(self.scale_head(h).squeeze(-1)) + 1e-3
        return mu, var


def gauss_nll(model, x, y):
    mu, var = model(x)
    return mx.mean(0.5 * mx.log(2 * math.pi * var) + 0.5 * (y - mu) ** 2 / var)


def main():
    t0 = time.time()
    key = mx.random.key(7)
    ktr, kva = mx.random.split(key)
    xtr, gtr = make_caves(4000, ktr)
    xva, gva = make_caves(800, kva)
    # work in log-growth, standardised with train statistics
    ltr, lva = mx.log(gtr), mx.log(gva)
    m, s = mx.mean(ltr), mx.std(ltr)
    ytr, yva = (ltr - m) / s, (lva - m) / s

    # reference: a single Gaussian fitted to the training targets
    ref_nll = 0.5 * math.log(2 * math.pi * mx.var(ytr).item()) + 0.5 * (
        mx.mean((yva - mx.mean(ytr)) ** 2).item() / mx.var(ytr).item())

    # audit the hand-written VJP against autodiff of the same function
    z = mx.linspace(-6, 6, 41)
    g_custom = mx.grad(lambda t: soft_pos(t).sum())(z)
    g_auto = mx.grad(lambda t: mx.logaddexp(t, mx.zeros_like(t)).sum())(z)
    print(f"# audit soft_pos vjp: max|custom-auto| = "
          f"{mx.max(mx.abs(g_custom - g_auto)).item():.2e}", flush=True)

    model = DripNet(len(FEATS))
    mx.eval(model.parameters())
    loss_and_grad = nn.value_and_grad(model, gauss_nll)

    _, g0 = loss_and_grad(model, xtr[:256], ytr[:256])
    flat = tree_flatten(g0)
    nz = sum(1 for _, g in flat if mx.any(g != 0).item())
    print(f"# grad check: {nz}/{len(flat)} parameter tensors get a non-zero gradient",
          flush=True)

    opt = optim.Adamax(learning_rate=0.0)
    lr_max, lr_min = 1.2e-2, 2e-5
    cycles = [6, 12, 24]          # epochs per SGDR cycle
    bs = 128
    n = xtr.shape[0]
    steps_per_epoch = n // bs
    epoch = 0
    for ci, clen in enumerate(cycles, start=1):
        total = clen * steps_per_epoch
        t_cur = 0
        for e in range(clen):
            epoch += 1
            perm = mx.random.permutation(n)
            run, cnt = 0.0, 0
            for b in range(steps_per_epoch):
                idx = perm[b * bs:(b + 1) * bs]
                lr = lr_min + 0.5 * (lr_max - lr_min) * (1 + math.cos(math.pi * t_cur / total))
                opt.learning_rate = lr
                loss, grads = loss_and_grad(model, xtr[idx], ytr[idx])
                opt.update(model, grads)
                mx.eval(model.parameters(), opt.state, loss)
                run += loss.item()
                cnt += 1
                t_cur += 1
            mu, var = model(xva)
            val_nll = gauss_nll(model, xva, yva)
            pred_mm = mx.exp(mu * s + m)
            rmse_mm = mx.sqrt(mx.mean((pred_mm - gva) ** 2))
            half = 1.645 * mx.sqrt(var)
            cover = mx.mean((mx.abs(yva - mu) <= half).astype(mx.float32))
            rec = {
                "cycle": ci, "ep": e + 1, "epoch": epoch, "lr": round(lr, 6),
                "train_nll": round(run / cnt, 4), "val_nll": round(val_nll.item(), 4),
                "ref_nll": round(ref_nll, 4),
                "val_rmse_mm_per_century": round(rmse_mm.item(), 3),
                "cover90": round(cover.item(), 3),
            }
            print(json.dumps(rec), flush=True)
    print(f"# done in {time.time() - t0:.1f}s, {epoch} epochs, "
          f"{epoch * steps_per_epoch} updates", flush=True)


if __name__ == "__main__":
    main()
