# Two-head weather-station calibration model: from raw sensor channels predict
# dew point (degC) and solar irradiance (W/m^2). Targets are standardized once
# up front; the loss combines the two heads.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)
mx.random.seed(21)
N, F = 3600, 10
S = rng.normal(size=(N, F)).astype(np.float32)
dew = 8.0 + 2.1 * (np.tanh(S[:, 0] + 0.5 * S[:, 1]) + 0.4 * S[:, 2] * S[:, 3]) + rng.normal(0, 0.3, N)
irr = 420.0 + 72.0 * (np.sin(1.2 * S[:, 4]) * 1.3 + 0.6 * S[:, 5] * S[:, 6]) + rng.normal(0, 12.0, N)
Y = np.stack([dew, irr], 1).astype(np.float32)
ntr = 3000
mean, std = Y[:ntr].mean(0), Y[:ntr].std(0)
Yn = (Y - mean) / std
Str, Ytr = mx.array(S[:ntr]), mx.array(Yn[:ntr])
Sva, Yva = mx.array(S[ntr:]), Y[ntr:]
dew_std, irr_std = float(std[0]), float(std[1])
print(f"# dew std {dew_std:.2f} degC, irradiance std {irr_std:.1f} W/m2 (targets standardized)")

class TwoHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(F, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU())
        self.dew_head = nn.Linear(96, 1)
        self.irr_head = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.dew_head(h).squeeze(-1), self.irr_head(h).squeeze(-1)

model = TwoHead()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=1e-3)

def loss_fn(model, x, y):
    dew_pred, irr_pred = model(x)
    # separate MSE per head; targets are already standardized, so no extra scaling
    dew_loss = mx.mean((dew_pred - y[:, 0]) ** 2)
    irr_loss = mx.mean((irr_pred - y[:, 1]) ** 2)
    return dew_loss + irr_loss, (dew_loss, irr_loss)

vg = nn.value_and_grad(model, lambda m, x, y: loss_fn(m, x, y)[0])

def r2(pred_n, col):
    pred = np.array(pred_n) * std[col] + mean[col]
    t = Yva[:, col]
    return 1 - ((pred - t) ** 2).sum() / ((t - t.mean()) ** 2).sum(), np.abs(pred - t).mean()

t0 = time.time()
for epoch in range(1, 21):
    perm = mx.array(rng.permutation(ntr))
    for i in range(0, ntr, 50):
        idx = perm[i:i + 50]
        loss, g = vg(model, Str[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    if epoch % 2 == 0 or epoch == 1:
        _, (dl, il) = loss_fn(model, Str, Ytr)
        dp, ip = model(Sva)
        r2d, maed = r2(dp, 0)
        r2i, maei = r2(ip, 1)
        print(f"ep{epoch:02d}  loss={loss.item():.5f}  dew_term={dl.item():.5f}  irr_term={il.item():.6f}  "
              f"val: dew R2={r2d:+.3f} MAE={maed:.2f}C | irr R2={r2i:+.3f} MAE={maei:.1f}W/m2  [{time.time() - t0:.1f}s]")
