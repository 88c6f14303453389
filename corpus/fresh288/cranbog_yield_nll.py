"""Cranberry grower co-op: predict bog yield (barrels/acre) with an uncertainty.

Two stages. Stage "mean" fits only the mean head with half-MSE under an RMSprop
one-cycle schedule. Stage "spread" switches to a Gaussian negative
log-likelihood for mean and log-variance with a NEW AdamW optimizer and a new
one-cycle schedule, both starting again from learning rate 0. The NLL is in
standardised units, so it goes below zero once the spread is learned.
Logging is logfmt, and only every 300 steps.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(29)
N_TRAIN, N_VAL = 8000, 2000
N = N_TRAIN + N_VAL

uprights = rng.uniform(250, 650, N)                 # uprights / sq ft
sanding = rng.integers(0, 6, N).astype(np.float64)   # years since last sanding
hives = rng.uniform(0.5, 3.0, N)                     # honeybee hives / acre
frost = rng.integers(0, 9, N).astype(np.float64)     # spring frost nights
nitro = rng.uniform(10, 40, N)                       # lb N / acre
delay = rng.uniform(0, 21, N)                        # days harvest flood delayed
rot = rng.uniform(0, 1, N)                           # fruit-rot pressure index

mean_bbl = (180 + 0.12 * (uprights - 450) - 4.0 * (sanding - 2.5) ** 2
            + 28 * np.tanh(hives - 1.2) - 3.0 * frost - 0.06 * (nitro - 28) ** 2
            - 0.9 * delay - 25 * rot)
sd_bbl = 0.8 + 5.0 * rot ** 2 + 0.6 * frost * rot  # rot and frost make yield erratic
yld = mean_bbl + sd_bbl * rng.normal(size=N)

X = np.stack([uprights, sanding, hives, frost, nitro, delay, rot], 1)
mx_, sx_ = X[:N_TRAIN].mean(0), X[:N_TRAIN].std(0)
X = (X - mx_) / sx_
my, sy = yld[:N_TRAIN].mean(), yld[:N_TRAIN].std()
Y = (yld - my) / sy

Xa = mx.array(X.astype(np.float32))
Ya = mx.array(Y.astype(np.float32))
Xv, Yv = Xa[N_TRAIN:], Ya[N_TRAIN:]
true_v = yld[N_TRAIN:]

# baselines: the co-op's median yield and a plain least-squares fit
book_mae = np.abs(np.median(yld[:N_TRAIN]) - true_v).mean()
A = np.c_[X[:N_TRAIN], np.ones(N_TRAIN)]
w, *_ = np.linalg.lstsq(A, yld[:N_TRAIN], rcond=None)
ls_mae = np.abs(np.c_[X[N_TRAIN:], np.ones(N_VAL)] @ w - true_v).mean()
oracle_nll = np.mean(np.log(sd_bbl[N_TRAIN:] / sy) + 0.5 + 0.5 * math.log(2 * math.pi))


class YieldNet(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(),
                                   nn.Linear(hidden, hidden), nn.GELU())
        self.mean_head = nn.Linear(hidden, 1)
        self.logvar_head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def one_cycle(peak, total, up_frac=0.25):
    up = int(total * up_frac)

    def sched(step):
        s = step.astype(mx.float32)
        rise = peak * s / up
        fall = 0.5 * peak * (1 + mx.cos(math.pi * mx.minimum(s - up, total - up) / (total - up)))
        return mx.where(s < up, rise, fall)

    return sched


def mean_loss(model, x, t):
    mu, _ = model(x)
    return 0.5 * mx.mean((mu - t) ** 2)


def nll_loss(model, x, t):
    mu, lv = model(x)
    lv = mx.clip(lv, -12.0, 6.0)
    return mx.mean(0.5 * (lv + (t - mu) ** 2 * mx.exp(-lv)) + 0.5 * math.log(2 * math.pi))


def evaluate(model):
    mu, lv = model(Xv)
    lv = mx.clip(lv, -12.0, 6.0)
    nll = mx.mean(0.5 * (lv + (Yv - mu) ** 2 * mx.exp(-lv)) + 0.5 * math.log(2 * math.pi))
    mu_bbl = np.array(mu) * sy + my
    sd_bbl_p = np.exp(0.5 * np.array(lv)) * sy
    z = np.abs(mu_bbl - true_v) / sd_bbl_p
    return (nll.item(), np.abs(mu_bbl - true_v).mean(),
            100 * (z < 1).mean(), 100 * (z < 2).mean())


print(f"event=data train={N_TRAIN} val={N_VAL} yield_min={yld.min():.1f} "
      f"yield_max={yld.max():.1f} noise_sd_bbl={sd_bbl.min():.1f}..{sd_bbl.max():.1f}")
print(f"event=baselines coop_median_mae_bbl={book_mae:.2f} least_squares_mae_bbl={ls_mae:.2f} "
      f"oracle_val_nll={oracle_nll:.3f}")

mx.random.seed(5)
model = YieldNet(X.shape[1])
mx.eval(model.parameters())
t0 = time.time()

STAGES = [("mean", mean_loss, 600, lambda s: optim.RMSprop(learning_rate=s), 2e-3),
          ("spread", nll_loss, 1200, lambda s: optim.AdamW(learning_rate=s, weight_decay=1e-4), 1.5e-3)]
BATCH, EVERY = 128, 300
global_step = 0
for name, lfn, steps, make_opt, peak in STAGES:
    opt = make_opt(one_cycle(peak, steps))
    lg = nn.value_and_grad(model, lfn)
    print(f"event=stage_start stage={name} steps={steps} peak_lr={peak:g} lr_at_step0=0")
    run = 0.0
    for s in range(steps):
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        loss, grads = lg(model, Xa[idx], Ya[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        global_step += 1
        if (s + 1) % EVERY == 0:
            vnll, vmae, c1, c2 = evaluate(model)
            print(f"step={global_step} stage={name} lr={opt.learning_rate.item():.2e} "
                  f"train_loss={run/EVERY:+.4f} val_nll={vnll:+.4f} val_mae_bbl={vmae:.2f} "
                  f"cover1sd_pct={c1:.1f} cover2sd_pct={c2:.1f}")
            run = 0.0
    print(f"event=stage_end stage={name} final_lr={opt.learning_rate.item():.2e}")

vnll, vmae, c1, c2 = evaluate(model)
print(f"event=done val_nll={vnll:+.4f} oracle_nll={oracle_nll:+.4f} val_mae_bbl={vmae:.2f} "
      f"least_squares_mae_bbl={ls_mae:.2f} cover1sd_pct={c1:.1f} cover2sd_pct={c2:.1f} "
      f"secs={time.time()-t0:.1f}")
