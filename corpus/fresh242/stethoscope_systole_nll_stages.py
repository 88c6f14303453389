"""Digital-stethoscope helper: systolic interval (ms) from a heart-sound envelope.

Synthetic 48-sample phonocardiogram envelopes (S1 and S2 bumps, murmur hiss
in some, breathing drift, clicks). The target is the S1->S2 interval in ms,
read by a cardiologist with noise that grows with heart rate.
Stage 1: mean head only, MSE (variance head frozen, quiet stage).
Stage 2: Gaussian negative log-likelihood on both heads (loss goes below 0).
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_S = 48
MS_PER_SAMPLE = 12.5


def make_set(n, seed):
    r = np.random.default_rng(seed)
    t = np.arange(N_S)
    hr = r.uniform(55, 130, size=n)
    s1 = r.uniform(3, 8, size=n)
    interval = 420 - 1.6 * (hr - 60) + r.normal(0, 12, size=n)  # ms
    s2 = s1 + interval / MS_PER_SAMPLE
    X = np.zeros((n, N_S), np.float32)
    for i in range(n):
        env = 1.0 * np.exp(-0.5 * ((t - s1[i]) / 1.2) ** 2)
        env += 0.7 * np.exp(-0.5 * ((t - s2[i]) / 1.0) ** 2)
        if r.random() < 0.3:  # systolic murmur between S1 and S2
            env += 0.25 * ((t > s1[i] + 2) & (t < s2[i] - 2))
        env += 0.1 * np.sin(2 * np.pi * t / 40 + r.uniform(0, 6.28))
        env += r.normal(0, 0.05, size=N_S)
        X[i] = env
    read_sd = 4 + 0.12 * (hr - 55)  # faster hearts are harder to read
    y = interval + r.normal(0, read_sd)
    feats = np.concatenate([X, ((hr - 90) / 20)[:, None].astype(np.float32)], axis=1)
    return feats.astype(np.float32), y.astype(np.float32), read_sd


class IntervalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(N_S + 1, 96), nn.SiLU(),
                                   nn.Linear(96, 96), nn.SiLU())
        self.mean_head = nn.Linear(96, 1)
        self.logvar_head = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


Xtr, ytr, _ = make_set(5000, 3)
Xva, yva, sd_va = make_set(1200, 4)
y_mu, y_sd = ytr.mean(), ytr.std()
ztr = (ytr - y_mu) / y_sd


def mse_loss(model, x, z):
    m, _ = model(x)
    return ((m - z) ** 2).mean()


def nll_loss(model, x, z):
    m, lv = model(x)
    lv = mx.clip(lv, -9.0, 4.0)
    return (0.5 * (lv + (z - m) ** 2 / mx.exp(lv))).mean()


def val_report(model):
    m, lv = model(mx.array(Xva))
    pred = np.array(m) * y_sd + y_mu
    sd = np.sqrt(np.exp(np.array(lv))) * y_sd
    mae = np.abs(pred - yva).mean()
    cover = np.mean(np.abs(pred - yva) < 1.96 * sd)
    return mae, cover, sd


base_mae = np.abs(y_mu - yva).mean()
print(f"train {len(ytr)} val {len(yva)}  baseline (predict mean) val MAE {base_mae:.1f} ms")
print(f"reader noise on val: mean sd {sd_va.mean():.1f} ms (floor for MAE ~{0.8*sd_va.mean():.1f})")

mx.random.seed(1)
model = IntervalNet()
rng = np.random.default_rng(5)
BS = 128

# stage 1: mean head only, variance head frozen, logs only at the end
model.logvar_head.freeze()
opt = optim.Adam(learning_rate=2e-3)
step_fn = nn.value_and_grad(model, mse_loss)
for step in range(500):
    idx = rng.integers(0, len(ztr), size=BS)
    loss, g = step_fn(model, mx.array(Xtr[idx]), mx.array(ztr[idx]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
mae, cover, _ = val_report(model)
print(f"stage 1 done (500 steps): train_mse {loss.item():.4f}  val MAE {mae:.2f} ms")

# stage 2: Gaussian NLL on both heads; the NLL is negative once sd < 1 in z units
model.unfreeze()
opt2 = optim.Adam(learning_rate=1e-3)
step_fn2 = nn.value_and_grad(model, nll_loss)
for step in range(800):
    idx = rng.integers(0, len(ztr), size=BS)
    loss, g = step_fn2(model, mx.array(Xtr[idx]), mx.array(ztr[idx]))
    opt2.update(model, g)
    mx.eval(model.parameters(), opt2.state)
    if step % 100 == 0 or step == 799:
        mae, cover, sd = val_report(model)
        print(f"stage 2 step {step:3d}  train_nll {loss.item():+.4f}  val MAE {mae:.2f} ms"
              f"  95% cover {cover:.3f}  mean pred sd {sd.mean():.1f} ms")

mae, cover, sd = val_report(model)
corr = np.corrcoef(sd, sd_va)[0, 1]
print(f"final: val MAE {mae:.2f} ms (baseline {base_mae:.1f})  95% interval coverage {cover:.3f}"
      f"  corr(pred sd, true reader sd) {corr:.3f}")
