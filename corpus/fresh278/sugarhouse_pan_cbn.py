"""Sugarhouse evaporator log: finished-syrup Brix offset from sap readings.

Five evaporator pans run side by side; each pan has its own scale and
offset in how sap readings translate to finished density.  The network
shares one normalisation for all pans and lets each pan pick its own
gamma/beta (conditional batch norm).  The head predicts a mean and a
log-variance, trained with Gaussian negative log-likelihood, so the loss
goes below zero as the fit tightens.  Output is printed only at selected
epochs.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

N_PANS = 5
NOISE = 0.12  # Brix, refractometer scatter


def make_log(n, rng):
    pan = rng.integers(0, N_PANS, size=n)
    sap_brix = rng.uniform(1.2, 3.5, n)
    flue_c = rng.uniform(480, 760, n)
    draw_min = rng.uniform(6, 25, n)
    depth_cm = rng.uniform(2.5, 6.0, n)
    sap_temp = rng.uniform(1, 12, n)
    defoamer = rng.integers(0, 2, n).astype(np.float64)
    pan_gain = np.array([1.0, 0.7, 1.3, 0.9, 1.15])[pan]
    pan_shift = np.array([0.0, 0.6, -0.5, 0.3, -0.2])[pan]
    core = (0.55 * (sap_brix - 2.3) + 0.004 * (flue_c - 620)
            - 0.05 * (draw_min - 15) - 0.25 * (depth_cm - 4.2) ** 2
            + 0.15 * defoamer - 0.02 * (sap_temp - 6))
    y = pan_gain * core + pan_shift + rng.normal(0, NOISE, n)
    x = np.stack([sap_brix, flue_c, draw_min, depth_cm, sap_temp, defoamer], 1)
    return x.astype(np.float32), pan.astype(np.int32), y.astype(np.float32)


class PanNorm(nn.Module):
    """Shared batch statistics, per-pan affine parameters."""

    def __init__(self, dims, n_pans):
        super().__init__()
        self.bn = nn.BatchNorm(dims, affine=False, momentum=0.1)
        self.gamma = nn.Embedding(n_pans, dims)
        self.beta = nn.Embedding(n_pans, dims)
        self.gamma.weight = mx.ones((n_pans, dims))
        self.beta.weight = mx.zeros((n_pans, dims))

    def __call__(self, x, pan):
        return self.gamma(pan) * self.bn(x) + self.beta(pan)


class SyrupNet(nn.Module):
    def __init__(self, d_in=6, hidden=64):
        super().__init__()
        self.inp = nn.BatchNorm(d_in)
        self.l1 = nn.Linear(d_in, hidden)
        self.c1 = PanNorm(hidden, N_PANS)
        self.l2 = nn.Linear(hidden, hidden)
        self.c2 = PanNorm(hidden, N_PANS)
        self.out = nn.Linear(hidden, 2)

    def __call__(self, x, pan):
        h = nn.silu(self.c1(self.l1(self.inp(x)), pan))
        h = nn.silu(self.c2(self.l2(h), pan))
        o = self.out(h)
        return o[:, 0], mx.clip(o[:, 1], -8.0, 4.0)


def nll(model, x, pan, y):
    mu, logv = model(x, pan)
    return mx.mean(0.5 * (logv + (y - mu) ** 2 * mx.exp(-logv) + math.log(2 * math.pi)))


def score(model, x, pan, y):
    model.eval()
    mu, logv = model(x, pan)
    l = mx.mean(0.5 * (logv + (y - mu) ** 2 * mx.exp(-logv) + math.log(2 * math.pi)))
    rmse = mx.sqrt(mx.mean((mu - y) ** 2))
    sd = mx.mean(mx.exp(0.5 * logv))
    model.train()
    return l.item(), rmse.item(), sd.item()


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    xtr, ptr, ytr = make_log(6000, rng)
    xva, pva, yva = make_log(1500, rng)
    xtr, ptr, ytr, xva, pva, yva = map(mx.array, (xtr, ptr, ytr, xva, pva, yva))
    floor = 0.5 * math.log(2 * math.pi * NOISE ** 2) + 0.5
    base_rmse = float(np.std(np.array(yva)))
    base_nll = 0.5 * math.log(2 * math.pi * base_rmse ** 2) + 0.5

    model = SyrupNet()
    mx.eval(model.parameters())
    steps_per_epoch = 6000 // 64
    epochs = 16
    sched = optim.step_decay(2e-3, 0.5, 8 * steps_per_epoch)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, nll)
    t0 = time.time()

    print(f"sugarhouse log: 6000 draws train / 1500 held out, {N_PANS} pans")
    print(f"reference: constant-mean NLL {base_nll:+.3f} (rmse {base_rmse:.3f} Brix); "
          f"refractometer floor NLL {floor:+.3f} (sd {NOISE} Brix)")
    report = {1, 2, 5, 10, 16}
    n = 6000
    for ep in range(1, epochs + 1):
        perm = rng.permutation(n)
        tot = 0.0
        for i in range(0, n - 63, 64):
            idx = mx.array(perm[i:i + 64])
            loss, g = vg(model, xtr[idx], ptr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), model.state, opt.state, loss)
            tot += loss.item()
        if ep in report:
            v_nll, v_rmse, v_sd = score(model, xva, pva, yva)
            print(f"epoch {ep:2d}  lr {opt.learning_rate.item():.1e}  "
                  f"train_nll {tot / steps_per_epoch:+.3f}  val_nll {v_nll:+.3f}  "
                  f"val_rmse {v_rmse:.3f} Brix  mean_pred_sd {v_sd:.3f}")

    model.eval()
    mu, _ = model(xva, pva)
    err = np.array(mu) - np.array(yva)
    pv = np.array(pva)
    per_pan = "  ".join(f"pan{p}:{np.sqrt(np.mean(err[pv == p] ** 2)):.3f}"
                        for p in range(N_PANS))
    print(f"per-pan rmse  {per_pan}")
    g = np.array(model.c1.gamma.weight)
    print(f"pan gamma spread (layer 1, mean |gamma_p - gamma_0|): "
          f"{np.abs(g[1:] - g[0]).mean():.3f}")
    print(f"finished in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
