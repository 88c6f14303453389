"""Brewery cellar: forecast the next 24 h of three fermenter sensors
(gravity in Plato, wort temperature, CO2 rate) from the last 96 h.

PatchTST-style model, channel independent, with reversible instance norm
(learnable affine).  Two stages:
  A) self-supervised masked-patch pretraining (40% of patches hidden,
     MSE on the hidden patches only, in RevIN space)
  B) forecasting: B1 linear probe (backbone frozen), B2 full fine-tune
     with a fresh optimizer at a lower learning rate.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

LOOKBACK, HORIZON, PATCH = 96, 24, 12
NPATCH = LOOKBACK // PATCH
N_CH = 3
CH_NAMES = ["plato", "temp_C", "co2"]


def make_fermenter(T=420):
    t = np.arange(T, dtype=np.float64)
    og = rng.uniform(11.0, 16.0)
    fg = og * rng.uniform(0.18, 0.28)
    lag = rng.uniform(10, 40)
    rate = rng.uniform(0.04, 0.09)
    plato = fg + (og - fg) / (1.0 + np.exp(rate * (t - lag - 60)))
    plato += rng.normal(0, 0.05, T)
    set1 = rng.uniform(9.0, 13.0)
    rest_at = lag + rng.uniform(120, 180)
    temp = set1 + 4.0 / (1.0 + np.exp(-(t - rest_at) / 6.0))
    temp += 0.25 * np.sin(2 * np.pi * t / 24.0) + rng.normal(0, 0.1, T)
    co2 = np.maximum(0.0, -np.gradient(plato) * 6.0) + rng.normal(0, 0.03, T)
    return np.stack([plato, temp, co2], axis=1).astype(np.float32)


def windows(series_list, step):
    xs, ys = [], []
    for s in series_list:
        for start in range(0, len(s) - LOOKBACK - HORIZON + 1, step):
            xs.append(s[start:start + LOOKBACK])
            ys.append(s[start + LOOKBACK:start + LOOKBACK + HORIZON])
    return np.stack(xs), np.stack(ys)


series = [make_fermenter() for _ in range(60)]
train_s, test_s = series[:48], series[48:]
x_tr, y_tr = windows(train_s, 4)
x_te, y_te = windows(test_s, 12)

# global per-channel scaling fitted on training fermenters only
mu = np.concatenate(train_s).mean(0)
sd = np.concatenate(train_s).std(0)
x_tr, y_tr = (x_tr - mu) / sd, (y_tr - mu) / sd
x_te, y_te = (x_te - mu) / sd, (y_te - mu) / sd
x_tr, y_tr, x_te, y_te = map(mx.array, (x_tr, y_tr, x_te, y_te))
print(f"windows: train {x_tr.shape[0]}  test {x_te.shape[0]}  "
      f"lookback {LOOKBACK}  horizon {HORIZON}  patches {NPATCH}x{PATCH}")


class RevIN(nn.Module):
    def __init__(self, n_ch, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones((n_ch,))
        self.bias = mx.zeros((n_ch,))

    def norm(self, x):
        mean = mx.stop_gradient(mx.mean(x, axis=1, keepdims=True))
        std = mx.stop_gradient(mx.sqrt(mx.var(x, axis=1, keepdims=True) + self.eps))
        return (x - mean) / std * self.weight + self.bias, (mean, std)

    def denorm(self, y, stats):
        mean, std = stats
        return (y - self.bias) / (self.weight + self.eps * self.eps) * std + mean


class PatchBackbone(nn.Module):
    def __init__(self, d=32, heads=4, layers=2):
        super().__init__()
        self.embed = nn.Linear(PATCH, d)
        self.pos = mx.random.normal((NPATCH, d)) * 0.02
        self.encoder = nn.TransformerEncoder(layers, d, heads, mlp_dims=2 * d,
                                             dropout=0.0, norm_first=True)

    def __call__(self, patches):
        h = self.embed(patches) + self.pos
        return self.encoder(h, None)


class Fermcast(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.revin = RevIN(N_CH)
        self.backbone = PatchBackbone(d)
        self.recon_head = nn.Linear(d, PATCH)
        self.fc_head = nn.Linear(NPATCH * d, HORIZON)

    def patchify(self, x):
        # (B, L, C) -> channel independent (B*C, NPATCH, PATCH)
        B = x.shape[0]
        x = x.transpose(0, 2, 1).reshape(B * N_CH, NPATCH, PATCH)
        return x

    def pretrain_loss(self, x, keep):
        xn, _ = self.revin.norm(x)
        p = self.patchify(xn)
        h = self.backbone(p * keep)
        rec = self.recon_head(h)
        hidden = 1.0 - keep
        err = ((rec - p) ** 2).mean(axis=-1, keepdims=True) * hidden
        return err.sum() / mx.maximum(hidden.sum(), 1.0)

    def forecast(self, x):
        B = x.shape[0]
        xn, stats = self.revin.norm(x)
        h = self.backbone(self.patchify(xn))
        out = self.fc_head(h.reshape(B * N_CH, -1))
        out = out.reshape(B, N_CH, HORIZON).transpose(0, 2, 1)
        return self.revin.denorm(out, stats)


def forecast_loss(model, x, y):
    return nn.losses.mse_loss(model.forecast(x), y)


def batches(n, bs):
    idx = rng.permutation(n)
    for i in range(0, n - bs + 1, bs):
        yield mx.array(idx[i:i + bs])


def n_trainable(model):
    from mlx.utils import tree_flatten
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def evaluate(model):
    pred = model.forecast(x_te)
    err = (pred - y_te) * mx.array(sd)
    mse = mx.mean((pred - y_te) ** 2).item()
    mae_ch = mx.mean(mx.abs(err), axis=(0, 1))
    return mse, np.array(mae_ch)


model = Fermcast()
mx.eval(model.parameters())
t0 = time.time()

# ---------------- stage A: masked patch pretraining ----------------
STEPS_A, BS = 200, 32
warm = optim.linear_schedule(0.0, 1e-3, 40)
opt = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(1e-3, STEPS_A - 40, 1e-4)], [40]))
loss_and_grad = nn.value_and_grad(model, lambda m, x, k: m.pretrain_loss(x, k))
print(f"\n[stage A] masked-patch pretraining, trainable params {n_trainable(model)}")
step = 0
while step < STEPS_A:
    for bi in batches(x_tr.shape[0], BS):
        keep = (mx.random.uniform(shape=(BS * N_CH, NPATCH, 1)) > 0.4).astype(mx.float32)
        loss, grads = loss_and_grad(model, x_tr[bi], keep)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step += 1
        if step == 1 or step % 40 == 0:
            print(f"  A step {step:4d}  lr {opt.learning_rate.item():.2e}  recon_mse {loss.item():.4f}")
        if step >= STEPS_A:
            break

# ---------------- stage B1: linear probe ----------------
mse0, _ = evaluate(model)
print(f"\n[stage B1] linear probe; forecast head untrained test_mse {mse0:.4f}")
model.freeze()
model.fc_head.unfreeze()
model.revin.unfreeze()
print(f"  trainable params {n_trainable(model)}")
opt = optim.Adam(learning_rate=3e-3)
loss_and_grad = nn.value_and_grad(model, forecast_loss)
STEPS_B1 = 100
step = 0
while step < STEPS_B1:
    for bi in batches(x_tr.shape[0], BS):
        loss, grads = loss_and_grad(model, x_tr[bi], y_tr[bi])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step += 1
        if step % 40 == 0:
            print(f"  B1 step {step:4d}  train_mse {loss.item():.4f}")
        if step >= STEPS_B1:
            break
mse1, _ = evaluate(model)
print(f"  after probe test_mse {mse1:.4f}")

# ---------------- stage B2: full fine-tune ----------------
model.unfreeze()
print(f"\n[stage B2] full fine-tune, trainable params {n_trainable(model)}")
STEPS_B2 = 240
opt = optim.AdamW(learning_rate=optim.cosine_decay(5e-4, STEPS_B2, 2e-5), weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, forecast_loss)
step = 0
while step < STEPS_B2:
    for bi in batches(x_tr.shape[0], BS):
        loss, grads = loss_and_grad(model, x_tr[bi], y_tr[bi])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        step += 1
        if step % 80 == 0:
            mse_t, _ = evaluate(model)
            print(f"  B2 step {step:4d}  train_mse {loss.item():.4f}  test_mse {mse_t:.4f}")
        if step >= STEPS_B2:
            break

# ---------------- report vs baselines ----------------
mse2, mae_model = evaluate(model)
last = mx.repeat(x_te[:, -1:, :], HORIZON, axis=1)
slope = (x_te[:, -1:, :] - x_te[:, -13:-12, :]) / 12.0
drift = x_te[:, -1:, :] + slope * mx.arange(1, HORIZON + 1).reshape(1, -1, 1)
base = {"last value": last, "linear drift": drift}
print("\n[test] per-channel MAE in sensor units")
print(f"  {'method':14s} " + " ".join(f"{c:>8s}" for c in CH_NAMES) + "   mse(std units)")
print(f"  {'patch model':14s} " + " ".join(f"{v:8.3f}" for v in mae_model) + f"   {mse2:.4f}")
for name, p in base.items():
    mae = np.array(mx.mean(mx.abs((p - y_te) * mx.array(sd)), axis=(0, 1)))
    mse = mx.mean((p - y_te) ** 2).item()
    print(f"  {name:14s} " + " ".join(f"{v:8.3f}" for v in mae) + f"   {mse:.4f}")
print(f"revin affine weight {np.round(np.array(model.revin.weight), 3)}  bias {np.round(np.array(model.revin.bias), 3)}")
print(f"done in {time.time() - t0:.1f}s")
