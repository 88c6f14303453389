# Sled-dog race logbook: predict leg time (minutes) between checkpoints.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 6000, 1500
NOISE_MIN = 9.0  # trail luck: wind, moose, tangled lines


def make_legs(n):
    dist = rng.uniform(20, 90, n)            # km
    climb = rng.uniform(0, 900, n)           # m
    snow_t = rng.uniform(-35, -2, n)         # deg C
    hard = rng.uniform(0, 1, n)              # trail hardness index
    dogs = rng.integers(8, 15, n).astype(float)
    rest = rng.uniform(0, 8, n)              # hours rested before leg
    night = rng.integers(0, 2, n).astype(float)
    speed = 14.0 + 3.0 * hard - 0.05 * np.abs(snow_t + 18) + 0.25 * (dogs - 11) \
        + 1.2 * np.log1p(rest) - 0.8 * night
    minutes = 60.0 * dist / speed + 0.09 * climb
    y = minutes + rng.normal(0, NOISE_MIN, n)
    X = np.stack([dist, climb, snow_t, hard, dogs, rest, night], 1)
    return X.astype(np.float32), y.astype(np.float32), minutes.astype(np.float32)


Xtr, ytr, _ = make_legs(N_TRAIN)
Xva, yva, fva = make_legs(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr_s, Xva_s = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr_s), mx.array(Xva_s)
ytr_m = mx.array((ytr - ymu) / ysd)
oracle_rmse = float(np.sqrt(np.mean((fva - yva) ** 2)))
mean_rmse = float(np.sqrt(np.mean((ytr.mean() - yva) ** 2)))


class LegModel(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.skip = nn.Linear(d_in, 1)
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return (self.skip(x) + self.out(h)).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


mx.random.seed(11)
model = LegModel(7)
opt = optim.RMSprop(learning_rate=1e-3, alpha=0.9)
step = nn.value_and_grad(model, loss_fn)
mx.eval(model.parameters())


def val_rmse():
    p = model(Xva_m) * ysd + ymu
    return float(mx.sqrt(mx.mean((p - mx.array(yva)) ** 2)))


print(f"legs: train {N_TRAIN}, val {N_VAL}; val RMSE of the field average {mean_rmse:.2f} min")
print(f"val RMSE of the true course law (nobody beats this) {oracle_rmse:.2f} min")
print(f"before training: val RMSE {val_rmse():.2f} min")

EPOCHS, BS = 40, 100
best, best_ep, since_best = 1e9, 0, 0
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot = 0.0
    for i in range(0, N_TRAIN, BS):
        idx = perm[i:i + BS]
        loss, g = step(model, Xtr_m[idx], ytr_m[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    tr_rmse = float(np.sqrt(tot / (N_TRAIN // BS))) * ysd
    v = val_rmse()
    if v < best - 1e-3:
        best, best_ep, since_best = v, ep, 0
        flag = "new best"
    else:
        since_best += 1
        flag = f"{since_best} since best"
    if ep <= 3 or ep % 10 == 0:
        print(f"CP {ep:02d} | train RMSE {tr_rmse:6.2f} min | val RMSE {v:6.2f} min "
              f"| floor {oracle_rmse:5.2f} | {flag} | {time.time() - t0:5.1f}s")
print(f"finish: best val RMSE {best:.2f} min at CP {best_ep:02d}; "
      f"gap to floor {best - oracle_rmse:+.2f} min; final {val_rmse():.2f} min")
