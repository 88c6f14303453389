"""Solar-panel soiling loss: each field campaign adds newly cleaned/measured
panels to the training set (capped at 2400 rows, oldest campaigns retired),
and the model is warm-started and retrained a few epochs per campaign."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
CAP = 2400
EPOCHS = 10


def campaign(n):
    dry_days = rng.uniform(0, 60, n)
    tilt = rng.uniform(5, 45, n)
    dust = rng.lognormal(0.0, 0.5, n)          # PM10 index
    rain_mm = rng.exponential(4.0, n)
    humid = rng.uniform(0.2, 0.95, n)
    # made-up soiling law: saturating with dry days, less on steep tilt, washed by rain
    loss = (18 * (1 - np.exp(-dry_days * dust / 35)) * (1.2 - tilt / 60)
            * np.exp(-rain_mm / 10) * (0.7 + 0.6 * humid))
    loss = loss + rng.normal(0, 0.6, n)
    X = np.stack([dry_days / 60, tilt / 45, np.log(dust), rain_mm / 10, humid], 1)
    return X.astype(np.float32), loss.astype(np.float32)


Xv, yv = campaign(1500)
Xv, yv = mx.array(Xv), mx.array(yv)


class SoilNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.softplus(self.l1(x))
        h = nn.softplus(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


model = SoilNet()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
vg = nn.value_and_grad(model, loss_fn)

pool_X, pool_y = np.zeros((0, 5), np.float32), np.zeros((0,), np.float32)
t0 = time.time()
print("round  rows   epochs  train_mse   val_rmse_pct  val_mae_pct  t_s")
for rnd in range(1, 15):
    Xn, yn = campaign(400)
    pool_X = np.concatenate([pool_X, Xn])[-CAP:]
    pool_y = np.concatenate([pool_y, yn])[-CAP:]
    Xp, yp = mx.array(pool_X), mx.array(pool_y)
    n = len(pool_y)
    if rnd == 1:
        _, g = vg(model, Xp[:64], yp[:64])
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
        print(f"# gradient check: {len(leaves)} leaves, zero: {zero or 'none'}")
        print(f"# constant-mean baseline val RMSE: {float(mx.sqrt(mx.mean((yv - yv.mean())**2))):.3f} pct")
    tot, cnt = 0.0, 0
    for ep in range(EPOCHS):
        perm = mx.array(rng.permutation(n))
        for i in range(0, n - 31, 32):
            idx = perm[i:i + 32]
            loss, g = vg(model, Xp[idx], yp[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
    pv = model(Xv)
    rmse = mx.sqrt(mx.mean((pv - yv) ** 2)).item()
    mae = mx.mean(mx.abs(pv - yv)).item()
    print(f"{rnd:5d}  {n:5d}  {EPOCHS:6d}  {tot / cnt:9.4f}   {rmse:12.4f}  {mae:11.4f}  {time.time() - t0:5.1f}")
print(f"final pool size {len(pool_y)} (cap {CAP}); label noise sd 0.6 pct")
