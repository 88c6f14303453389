"""Sled-dog team pace (km/h) between checkpoints, with an uncertainty band.

Stage 1 fits the mean only (MSE, constant lr).  Stage 2 starts a fresh Adam on
a Gaussian negative log-likelihood (mean + log-variance heads) under a
polynomial (power 2) decay that reaches 0 and then HOLDS at 0 for the last
60 steps, a settling stretch kept from the race-season scripts.  The NLL is
in nats per leg on the km/h scale.  In stage 1 the log-variance head is not
used, so its gradients are zero there.
"""

import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

NAMES = ["trail_temp_c", "snow_depth_cm", "dogs", "rest_h", "climb_m", "musher_years"]


def simulate(n, rng):
    temp = rng.uniform(-35, 0, n)
    snow = rng.gamma(2.0, 12.0, n)
    dogs = rng.integers(8, 17, n).astype(np.float64)
    rest = rng.uniform(0, 10, n)
    climb = rng.gamma(2.0, 120.0, n)
    years = rng.integers(0, 25, n).astype(np.float64)
    pace = (9.0 + 0.25 * (dogs - 12) - 0.035 * snow - 0.004 * climb
            + 1.2 * np.tanh(rest / 4) + 0.5 * np.log1p(years)
            - 0.002 * (temp + 18) ** 2)
    noise_sd = 0.3 + 0.012 * snow + 0.4 * (years < 3)
    y = pace + rng.normal(0, 1, n) * noise_sd
    x = np.stack([temp, snow, dogs, rest, climb, years], 1)
    return x.astype(np.float32), y.astype(np.float32)


class PaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


def poly_hold(peak, decay_steps, power=2.0):
    def schedule(step):
        frac = mx.minimum(mx.array(step, dtype=mx.float32) / decay_steps, 1.0)
        return peak * (1.0 - frac) ** power
    return schedule


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    xtr, ytr = simulate(8000, rng)
    xva, yva = simulate(2000, rng)
    xm, xs = xtr.mean(0), xtr.std(0)
    ym, ys = ytr.mean(), ytr.std()
    Xtr, Xva = mx.array((xtr - xm) / xs), mx.array((xva - xm) / xs)
    Ztr = mx.array((ytr - ym) / ys)
    Zva = mx.array((yva - ym) / ys)
    model = PaceNet()
    print(f"sled pace | legs train {len(ytr)} valid {len(yva)} | features {', '.join(NAMES)}")
    print(f"  mean pace {ym:.2f} km/h, sd {ys:.2f}; predict-the-mean valid MAE "
          f"{np.abs(yva - ym).mean():.3f} km/h")

    def mse_loss(m, xb, yb):
        mu, _ = m(xb)
        return nn.losses.mse_loss(mu, yb)

    def nll_loss(m, xb, yb):
        mu, lv = m(xb)
        lv = mx.clip(lv, -8.0, 6.0)
        # per leg, in nats, on km/h: shift by log(ys) so the number is unit-aware
        return (0.5 * (lv + (yb - mu) ** 2 * mx.exp(-lv) + mx.log(2 * mx.array(np.pi)))).mean() + float(np.log(ys))

    def report(stage, step, lr, train_val):
        mu, lv = model(Xva)
        mu_k = np.array(mu) * ys + ym
        sd_k = np.sqrt(np.exp(np.clip(np.array(lv), -8, 6))) * ys
        mae = np.abs(mu_k - yva).mean()
        cover = 100 * np.mean(np.abs(mu_k - yva) <= 1.645 * sd_k)
        vnll = nll_loss(model, Xva, Zva).item()
        print(f"  [{stage}] step {step:4d}  lr {lr:.2e}  train {train_val:+.4f}  "
              f"valid nll {vnll:+.3f} nats  MAE {mae:.3f} km/h  in 90% band {cover:5.1f}%")

    def run(stage, loss_fn, opt, steps, every):
        vg = nn.value_and_grad(model, loss_fn)
        perm, cur, win = rng.permutation(len(ytr)), 0, []
        for s in range(1, steps + 1):
            if cur + 128 > len(perm):
                perm, cur = rng.permutation(len(ytr)), 0
            idx = mx.array(perm[cur:cur + 128])
            cur += 128
            loss, g = vg(model, Xtr[idx], Ztr[idx])
            if s == 1:
                leaves = tree_flatten(g)
                zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
                print(f"  [{stage}] gradient leaves {len(leaves)}, all-zero: {zero}")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            win.append(loss.item())
            if s % every == 0:
                report(stage, s, opt.learning_rate.item(), sum(win) / len(win))
                win = []

    tic = time.perf_counter()
    report("init", 0, 0.0, float("nan"))
    print("stage 1: mean only, MSE on standardised pace, Adam lr 3e-3 constant")
    run("mean", mse_loss, optim.Adam(learning_rate=3e-3), 600, 150)

    decay, hold = 540, 60
    print(f"stage 2: mean + log-variance, Gaussian NLL, fresh Adam, "
          f"poly^2 decay 3e-3 -> 0 over {decay} steps, then {hold} steps at lr 0")
    opt2 = optim.Adam(learning_rate=poly_hold(3e-3, decay))
    run("nll", nll_loss, opt2, decay, 90)
    before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    vg = nn.value_and_grad(model, nll_loss)
    for s in range(hold):
        idx = mx.array(rng.integers(0, len(ytr), 128))
        loss, g = vg(model, Xtr[idx], Ztr[idx])
        opt2.update(model, g)
        mx.eval(model.parameters(), opt2.state, loss)
    moved = max(float(np.abs(np.array(v) - before[k]).max())
                for k, v in tree_flatten(model.parameters()))
    report("hold", hold, opt2.learning_rate.item(), loss.item())
    print(f"  hold stretch: lr {opt2.learning_rate.item():.1e}, largest weight change {moved:.1e}")
    print(f"done in {time.perf_counter() - tic:.1f}s (stage 2 optimizer steps {int(opt2.step.item())})")


if __name__ == "__main__":
    main()
