"""Daily household water use (litres) per metered connection, five wards, with a drought-summer check."""
import logging
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s | %(message)s", datefmt="%H:%M:%S",
                    level=logging.INFO)
log = logging.getLogger("meters")

WARDS = ["harbour", "old town", "hillside", "new estate", "allotments"]
rng = np.random.default_rng(11)
mx.random.seed(11)


def simulate(n, temp_shift=0.0, hosepipe_ban=False):
    ward = rng.integers(0, 5, n)
    occupants = rng.integers(1, 6, n).astype(np.float32)
    temp = rng.normal(17, 6, n) + temp_shift
    rain = rng.exponential(2.0, n)
    weekend = (rng.random(n) < 2 / 7).astype(np.float32)
    garden = (rng.random(n) < np.array([0.1, 0.2, 0.6, 0.5, 0.9])[ward]).astype(np.float32)
    base = np.array([120, 105, 140, 150, 130])[ward]
    use = base + 55 * occupants + 12 * weekend * occupants
    outdoor = garden * np.maximum(temp - 14, 0) ** 1.4 * 6 * np.exp(-0.6 * rain)
    if hosepipe_ban:
        outdoor *= 0.35
    use = use + outdoor + rng.normal(0, 25, n)
    feats = np.stack([occupants, temp, rain, weekend, garden], 1).astype(np.float32)
    return feats, ward.astype(np.int32), use.astype(np.float32)


f_tr, w_tr, y_tr = simulate(12000)
f_va, w_va, y_va = simulate(2000)
f_dr, w_dr, y_dr = simulate(2000, temp_shift=7.0, hosepipe_ban=True)
fmu, fsd = f_tr.mean(0), f_tr.std(0)
ymu, ysd = y_tr.mean(), y_tr.std()


def to_mx(f, w):
    return mx.array((f - fmu) / fsd), mx.array(w)


class MeterNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.ward = nn.Embedding(5, 8)
        self.body = nn.Sequential(nn.Linear(13, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, f, w):
        return self.body(mx.concatenate([f, self.ward(w)], axis=1)).squeeze(-1)


def loss_fn(model, f, w, y):
    return nn.losses.mse_loss(model(f, w), y)


def litres(model, f, w):
    fx, wx = to_mx(f, w)
    return np.array(model(fx, wx)) * ysd + ymu


Ftr, Wtr = to_mx(f_tr, w_tr)
Ytr = mx.array((y_tr - ymu) / ysd)
BATCH, EPOCHS, SPLIT = 100, 16, 8
spe = len(y_tr) // BATCH


def run_epochs(model, opt, first, last, t0):
    step = nn.value_and_grad(model, loss_fn)
    for epoch in range(first, last + 1):
        opt.learning_rate = 3e-3 if epoch <= 6 else (1e-3 if epoch <= 12 else 3e-4)
        perm = mx.array(rng.permutation(len(y_tr)).astype(np.int32))
        tot = 0.0
        for i in range(spe):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = step(model, Ftr[idx], Wtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if epoch % 4 == 0:
            rmse = np.sqrt(np.mean((litres(model, f_va, w_va) - y_va) ** 2))
            log.info("epoch %2d lr %.0e train mse(std) %.4f valid RMSE %.1f L/day (%.1fs)",
                     epoch, opt.learning_rate.item(), tot / spe, rmse, time.time() - t0)


t0 = time.time()
log.info("data: %d train / %d valid connections (summer 2023), %d drought-summer connections",
         len(y_tr), len(y_va), len(y_dr))
log.info("noise floor RMSE 25.0 L/day; predicting the training mean gives %.1f L/day",
         np.sqrt(np.mean((y_va - ymu) ** 2)))
model = MeterNet()
opt = optim.RMSprop(learning_rate=3e-3, alpha=0.9)
mx.eval(model.parameters())
log.info("session 1: epochs 1-%d, logging every 4th epoch", SPLIT)
run_epochs(model, opt, 1, SPLIT, t0)

with tempfile.TemporaryDirectory() as ckdir:
    model.save_weights(os.path.join(ckdir, "meters.safetensors"))
    mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
    before = np.sqrt(np.mean((litres(model, f_va, w_va) - y_va) ** 2))
    log.info("checkpoint written after epoch %d (valid RMSE %.2f); session 1 closed", SPLIT, before)
    del model, opt
    mx.random.seed(999)
    model = MeterNet()
    model.load_weights(os.path.join(ckdir, "meters.safetensors"))
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.9)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
    mx.eval(model.parameters(), opt.state)
after = np.sqrt(np.mean((litres(model, f_va, w_va) - y_va) ** 2))
log.info("session 2: resumed, valid RMSE %.2f (checkpoint %.2f), optimizer step %d",
         after, before, int(opt.state["step"].item()))
run_epochs(model, opt, SPLIT + 1, EPOCHS, t0)

p_va, p_dr = litres(model, f_va, w_va), litres(model, f_dr, w_dr)
log.info("per-ward results (MAE, L/day; ward-mean baseline fitted on train)")
print(f"{'ward':<11}{'n':>6}{'valid MAE':>11}{'ward-mean':>11}{'n':>6}{'drought MAE':>13}{'bias':>8}{'ward-mean':>11}")
for k, name in enumerate(WARDS):
    a, b = w_va == k, w_dr == k
    wm = y_tr[w_tr == k].mean()
    print(f"{name:<11}{a.sum():>6}{np.mean(np.abs(p_va[a] - y_va[a])):>11.1f}{np.mean(np.abs(wm - y_va[a])):>11.1f}"
          f"{b.sum():>6}{np.mean(np.abs(p_dr[b] - y_dr[b])):>13.1f}{np.mean(p_dr[b] - y_dr[b]):>+8.1f}"
          f"{np.mean(np.abs(wm - y_dr[b])):>11.1f}")
print(f"{'all':<11}{len(y_va):>6}{np.mean(np.abs(p_va - y_va)):>11.1f}{'':>11}{len(y_dr):>6}"
      f"{np.mean(np.abs(p_dr - y_dr)):>13.1f}{np.mean(p_dr - y_dr):>+8.1f}")
log.info("done in %.1fs", time.time() - t0)
