# Heteroscedastic forecast of rooftop-solar output over the next 48 half-hours.
# Each site's telemetry stops at a random point (logger upload cut-off), so the
# target tensor is right-padded with zeros and a 0/1 mask marks real readings.
# The net predicts a mean and a variance per half-hour; we minimise the masked
# Gaussian NLL. Per the docs gaussian_nll_loss is element-wise by default
# (reduction 'none'), so we mask it ourselves.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

H = 48
rng = np.random.default_rng(5)


def make_sites(n):
    cap = rng.uniform(2, 10, n)            # kWp
    cloud = rng.uniform(0, 0.8, n)         # forecast cloud cover
    tilt = rng.uniform(0, 1, n)
    t = np.arange(H) / (H - 1)
    sun = np.clip(np.sin(np.pi * t), 0, None)
    mean = cap[:, None] * sun[None] * (1 - 0.7 * cloud[:, None]) * (0.8 + 0.2 * tilt[:, None])
    sd = 0.05 + 0.6 * cloud[:, None] * sun[None]
    y = mean + sd * rng.normal(size=mean.shape)
    lengths = rng.integers(12, H + 1, n)
    mask = (np.arange(H)[None] < lengths[:, None]).astype(np.float32)
    y = (y * mask).astype(np.float32)      # zero-padded past the cut-off
    feats = np.stack([cap / 10, cloud, tilt], 1).astype(np.float32)
    # per-step input: site features + time-of-day encoding
    tt = np.broadcast_to(np.stack([np.sin(np.pi * t), np.cos(np.pi * t), t], 1), (n, H, 3))
    x = np.concatenate([np.broadcast_to(feats[:, None], (n, H, 3)), tt], -1).astype(np.float32)
    return x, y, mask


x_tr, y_tr, m_tr = make_sites(1200)
x_va, y_va, m_va = make_sites(300)
Xtr, Ytr, Mtr = mx.array(x_tr), mx.array(y_tr), mx.array(m_tr)


class SolarHead(nn.Module):
    def __init__(self, d=64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, d), nn.GELU(), nn.Linear(d, d), nn.GELU())
        self.mu = nn.Linear(d, 1)
        self.logvar = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.net(x)
        return self.mu(h)[..., 0], mx.exp(self.logvar(h)[..., 0]) + 1e-4


def masked_nll(model, x, y, mask):
    mu, var = model(x)
    nll = nn.losses.gaussian_nll_loss(mu, y, var, reduction="none")
    return (nll * mask).sum() / mask.sum()


model = SolarHead()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 900, 3e-4))
vg = nn.value_and_grad(model, masked_nll)

real = m_va > 0
clim = float(np.sqrt(np.mean((y_va[real] - y_tr[m_tr > 0].mean()) ** 2)))
print("solar-forecast: 1200 train sites, 300 val sites, horizon 48, "
      f"{int(m_tr.sum())} real train readings ({100 * m_tr.mean():.0f}% of the grid)")
t0 = time.time()
for it in range(1, 901):
    idx = mx.array(rng.integers(0, len(x_tr), 64))
    loss, g = vg(model, Xtr[idx], Ytr[idx], Mtr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it == 1 or it % 100 == 0:
        mu, var = model(mx.array(x_va))
        mu, var = np.array(mu), np.array(var)
        rmse = float(np.sqrt(np.mean((mu[real] - y_va[real]) ** 2)))
        late = real & (np.arange(H)[None] >= 30)
        rmse_late = float(np.sqrt(np.mean((mu[late] - y_va[late]) ** 2)))
        print(f"it {it:4d}  nll {loss.item():+.4f}  val_rmse {rmse:.3f} kW  "
              f"val_rmse[t>=30] {rmse_late:.3f} kW  mean_sd {np.sqrt(var[real]).mean():.3f}  "
              f"({time.time() - t0:.1f}s)")
print(f"climatology RMSE: {clim:.3f} kW")
