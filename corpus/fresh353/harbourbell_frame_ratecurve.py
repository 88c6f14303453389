# Tiny learned transform codec for 32-sample audio frames (synthetic chirps + noise).
# Encoder -> latent (additive uniform noise in training, rounding at test) -> decoder.
# Rate from a factorised logistic entropy model with learned per-channel scale.
# Three stages sweep the trade-off weight lambda from low to high distortion weight.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
L = 32

def make_frames(n):
    t = np.arange(L) / L
    f0 = rng.uniform(1.0, 6.0, (n, 1)); df = rng.uniform(-2.0, 2.0, (n, 1))
    ph = rng.uniform(0, 2 * np.pi, (n, 1)); amp = rng.uniform(0.3, 1.0, (n, 1))
    x = amp * np.sin(2 * np.pi * (f0 * t + 0.5 * df * t * t) + ph)
    x += 0.03 * rng.standard_normal((n, L))
    return x.astype(np.float32)

Xtr, Xte = make_frames(6000), make_frames(1000)
var_te = float(Xte.var())

class Codec(nn.Module):
    def __init__(self, C=8):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(L, 64), nn.GELU(), nn.Linear(64, C))
        self.dec = nn.Sequential(nn.Linear(C, 64), nn.GELU(), nn.Linear(64, L))
        self.log_s = mx.zeros((C,))

    def bits(self, y):
        s = mx.exp(self.log_s)
        up = mx.sigmoid((y + 0.5) / s); lo = mx.sigmoid((y - 0.5) / s)
        p = mx.maximum(up - lo, 1e-9)
        return -mx.log2(p).sum(axis=1)

    def __call__(self, x, train):
        y = self.enc(x) * 4.0
        if train:
            yq = y + mx.random.uniform(-0.5, 0.5, y.shape)
        else:
            yq = mx.round(y)
        return self.dec(yq), self.bits(yq)

def rd_loss(model, x, lam):
    xh, b = model(x, True)
    mse = mx.mean((xh - x) ** 2)
    return lam * mse * 255.0 + mx.mean(b) / L, (mse, mx.mean(b) / L)

mx.random.seed(0)
model = Codec()
warm = 80
steps_per_stage = 700
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, 3 * steps_per_stage, 1e-4)], [warm])
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, rd_loss)

def evaluate():
    xh, b = model(mx.array(Xte), False)
    mse = mx.mean((xh - mx.array(Xte)) ** 2).item()
    return mse, mx.mean(b).item() / L, 10 * math.log10(var_te / mse)

print(f"frames train={len(Xtr)} test={len(Xte)}  frame={L}  baseline (send nothing): mse={var_te:.4f} snr=0.0 dB at 0 bits/sample")
t0 = time.time(); step = 0
for stage, lam in enumerate([0.05, 0.4, 3.0], 1):
    print(f"-- stage {stage}: lambda={lam}")
    for k in range(steps_per_stage):
        idx = mx.array(rng.integers(0, len(Xtr), 64))
        (loss, (mse, bps)), g = vg(model, mx.array(Xtr)[idx], lam)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        if step == 1:
            print(f"step 1 lr used {float(sched(0)):.1e}  rd_loss {loss.item():.4f}")
        if (k + 1) % 175 == 0:
            tm, tb, snr = evaluate()
            print(f"step {step:5d} lr {opt.learning_rate.item():.2e} rd_loss {loss.item():7.4f} "
                  f"train bits/sample {bps.item():.3f} | test (rounded) mse {tm:.5f} bits/sample {tb:.3f} snr {snr:5.2f} dB  {time.time()-t0:.1f}s")
tm, tb, snr = evaluate()
print(f"final: test snr {snr:.2f} dB at {tb:.3f} bits/sample (16-bit PCM would be 16 bits/sample)")
