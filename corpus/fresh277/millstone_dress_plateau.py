"""Watermill log: median flour particle size (micrometres) from stone settings.

A heteroscedastic regressor (mean and log-sd heads) is fitted by Gaussian
negative log-likelihood on a standardised target, so the objective drops
below zero once the predicted spread is narrower than one standard
deviation. Plain SGD with momentum; the learning rate is cut in half by hand
whenever the validation NLL has not improved for a few epochs.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 5
N_TRAIN, N_VAL = 6000, 1500
BATCH = 100
EPOCHS = 36
LR0 = 0.04
PATIENCE = 3
MIN_LR = 2.5e-3


def mill_log(n, rng):
    rpm = rng.uniform(90, 150, n)
    gap = rng.uniform(2.0, 9.0, n)              # thousandths of an inch
    furrow = rng.uniform(0.5, 3.0, n)           # mm
    moisture = rng.uniform(11.0, 17.0, n)       # % wet basis
    feed = rng.uniform(0.3, 1.2, n)             # t/h
    dress_age = rng.exponential(60.0, n)        # hours since last dressing
    mean = (95 + 9.0 * gap - 0.35 * (rpm - 120) + 6.0 * np.log1p(dress_age / 20)
            + 12.0 * (feed - 0.75) ** 2 * 10 - 4.0 * furrow
            + 2.5 * np.maximum(moisture - 14.0, 0.0) ** 2)
    sd = 2.0 + 1.6 * np.maximum(moisture - 13.0, 0.0)   # wetter grain, noisier
    y = mean + sd * rng.normal(size=n)
    x = np.stack([rpm, gap, furrow, moisture, feed, np.log1p(dress_age)], 1)
    return x.astype(np.float32), y.astype(np.float32), sd.astype(np.float32)


class SpreadNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.mu = nn.Linear(width, 1)
        self.log_sd = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.mu(h).squeeze(-1), mx.clip(self.log_sd(h).squeeze(-1), -6, 3)


def nll(model, x, y):
    mu, log_sd = model(x)
    z = (y - mu) * mx.exp(-log_sd)
    return mx.mean(0.5 * z * z + log_sd + 0.5 * math.log(2 * math.pi))


def main():
    t0 = time.time()
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    x_tr, y_tr, _ = mill_log(N_TRAIN, rng)
    x_va, y_va, sd_va = mill_log(N_VAL, rng)
    xm, xs = x_tr.mean(0), x_tr.std(0)
    ym, ys = float(y_tr.mean()), float(y_tr.std())
    xt, yt = mx.array((x_tr - xm) / xs), mx.array((y_tr - ym) / ys)
    xv, yv = mx.array((x_va - xm) / xs), mx.array((y_va - ym) / ys)

    floor_um = float(np.sqrt(np.mean(sd_va ** 2)))
    guess_um = float(np.sqrt(np.mean((y_va - ym) ** 2)))
    # NLL of the true generating density on the validation rows (standardised)
    true_nll = float(np.mean(np.log(sd_va / ys)) + 0.5 * math.log(2 * math.pi)
                     + 0.5)

    model = SpreadNet(xt.shape[1])
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=LR0, momentum=0.9)
    step = nn.value_and_grad(model, nll)

    print("epoch,lr,train_nll,val_nll,val_rmse_um,noise_floor_um,"
          "mean_guess_rmse_um,true_density_nll")
    best, stale = float("inf"), 0
    n = xt.shape[0]
    for epoch in range(1, EPOCHS + 1):
        perm = mx.array(rng.permutation(n))
        tot = 0.0
        for i in range(0, n, BATCH):
            idx = perm[i:i + BATCH]
            loss, grads = step(model, xt[idx], yt[idx])
            grads, _ = optim.clip_grad_norm(grads, 5.0)
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * idx.shape[0]
        train_nll = tot / n
        mu_v, _ = model(xv)
        val_nll = float(nll(model, xv, yv))
        rmse_um = float(mx.sqrt(mx.mean((mu_v - yv) ** 2))) * ys

        lr_now = float(opt.learning_rate)
        if val_nll < best - 1e-3:
            best, stale = val_nll, 0
        else:
            stale += 1
            if stale >= PATIENCE and lr_now > MIN_LR:
                new_lr = max(lr_now * 0.5, MIN_LR)
                opt.learning_rate = new_lr
                stale = 0
                print(f"# epoch {epoch}: no val gain for {PATIENCE} epochs, "
                      f"lr {lr_now:.4g} -> {new_lr:.4g}")
        if epoch % 4 == 0 or epoch == 1:
            print(f"{epoch},{lr_now:.4g},{train_nll:.4f},{val_nll:.4f},"
                  f"{rmse_um:.2f},{floor_um:.2f},{guess_um:.2f},{true_nll:.4f}")

    print(f"# done in {time.time() - t0:.1f}s; best val_nll {best:.4f} "
          f"(true density {true_nll:.4f}); final rmse {rmse_um:.2f} um vs "
          f"noise floor {floor_um:.2f} um and mean-guess {guess_um:.2f} um")


if __name__ == "__main__":
    main()
