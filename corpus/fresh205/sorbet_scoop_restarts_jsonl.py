# Sorbet kitchen: predict scoop hardness (newtons, penetrometer at -12 C) of a sorbet base
# from its recipe. Cosine warm restarts, each cycle ramping the learning rate up from 0.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N_TRAIN, N_VAL = 3000, 600
COLS = ["sucrose_pct", "dextrose_pct", "invert_pct", "fruit_pct", "alcohol_pct", "stabiliser_pct", "serve_temp_c"]


def make_recipes(n):
    u = mx.random.uniform(shape=(n, 7))
    sucrose = 10 + 14 * u[:, 0]
    dextrose = 6 * u[:, 1]
    invert = 5 * u[:, 2]
    fruit = 25 + 40 * u[:, 3]
    alcohol = 3 * u[:, 4] ** 2
    stab = 0.1 + 0.5 * u[:, 5]
    temp = -16 + 6 * u[:, 6]
    # freezing-point depression proxy (sucrose equivalents) -> softer; stabiliser & cold -> harder
    pod = sucrose + 1.9 * dextrose + 1.9 * invert + 0.12 * fruit + 7.4 * alcohol
    hardness = 40 * mx.exp(-0.045 * pod) * (1 + 1.6 * stab) * mx.exp(-0.09 * (temp + 12)) + 2.0
    hardness = hardness * (1 + 0.04 * mx.random.normal((n,)))
    x = mx.stack([sucrose, dextrose, invert, fruit, alcohol, stab, temp], axis=1)
    return x, hardness


x_tr, y_tr = make_recipes(N_TRAIN)
x_va, y_va = make_recipes(N_VAL)
mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
y_mu, y_sd = y_tr.mean(), y_tr.std()

model = nn.Sequential(nn.Linear(7, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))

CYCLES, EPOCHS_PER_CYCLE, BATCH = 3, 8, 100
steps_per_epoch = N_TRAIN // BATCH
cycle_len = EPOCHS_PER_CYCLE * steps_per_epoch
warm = steps_per_epoch  # one epoch of linear ramp from exactly 0
peaks = [6e-3, 4e-3, 2.5e-3]


def lr_at(step):
    c = min(step // cycle_len, CYCLES - 1)
    s = step - c * cycle_len
    if s < warm:
        return peaks[c] * s / warm
    t = (s - warm) / (cycle_len - warm)
    return peaks[c] * 0.5 * (1 + math.cos(math.pi * t))


opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, xb, yb):
    pred = m(xb).squeeze(-1)
    return nn.losses.huber_loss(pred, (yb - y_mu) / y_sd, delta=1.0, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def rmse_newton(x, y):
    pred = model(x).squeeze(-1) * y_sd + y_mu
    return mx.sqrt(mx.mean((pred - y) ** 2)).item()


baseline = mx.sqrt(mx.mean((y_va - y_mu) ** 2)).item()
gstep = 0
for cycle in range(1, CYCLES + 1):
    for epoch in range(1, EPOCHS_PER_CYCLE + 1):
        perm = mx.random.permutation(N_TRAIN)
        running = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            opt.learning_rate = lr_at(gstep)
            loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            running += loss.item()
            gstep += 1
        rec = {
            "cycle": cycle,
            "epoch": epoch,
            "lr_end": round(lr_at(gstep - 1), 6),
            "huber_std": round(running / steps_per_epoch, 5),
            "val_rmse_N": round(rmse_newton(x_va, y_va), 3),
            "mean_guess_rmse_N": round(baseline, 3),
        }
        print(json.dumps(rec))

final = rmse_newton(x_va, y_va)
print(json.dumps({"event": "final", "val_rmse_N": round(final, 3), "skill_vs_mean_pct": round(100 * (1 - final / baseline), 1)}))
