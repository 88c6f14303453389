# Scale-hyperprior transform codec for 24-bin log-spectral frames whose loudness varies a lot.
# y = g_a(x); z = h_a(|y|); z coded with a factorised logistic prior; sigma = h_s(z_hat) sets
# a Gaussian conditional for y_hat. Training: uniform noise; evaluation: rounding.
# The run is split in two sessions with a checkpoint written to a temp dir and reloaded.
import math, os, shutil, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

B, CY, CZ = 24, 10, 4
rng = np.random.default_rng(11)
templates = np.stack([np.exp(-0.5 * ((np.arange(B) - c) / w) ** 2) for c, w in
                      [(3, 1.5), (6, 2.5), (9, 1.2), (12, 3.0), (15, 1.8), (18, 2.2), (21, 1.4), (11, 5.0)]])

def frames(n):
    k = rng.integers(0, len(templates), n)
    mix = rng.dirichlet(np.ones(3) * 0.7, n)
    k2 = rng.integers(0, len(templates), (n, 2))
    shape = mix[:, :1] * templates[k] + mix[:, 1:2] * templates[k2[:, 0]] + mix[:, 2:] * templates[k2[:, 1]]
    gain = np.exp(rng.uniform(np.log(0.05), np.log(3.0), (n, 1)))
    return (gain * shape + 0.01 * rng.standard_normal((n, B))).astype(np.float32)

Xtr, Xte = mx.array(frames(8000)), mx.array(frames(1500))
var_te = float(mx.var(Xte).item())

def phi(v):
    return 0.5 * (1.0 + mx.erf(v / math.sqrt(2.0)))

class HyperCodec(nn.Module):
    def __init__(self):
        super().__init__()
        self.g_a = nn.Sequential(nn.Linear(B, 64), nn.GELU(), nn.Linear(64, CY))
        self.g_s = nn.Sequential(nn.Linear(CY, 64), nn.GELU(), nn.Linear(64, B))
        self.h_a = nn.Sequential(nn.Linear(CY, 32), nn.GELU(), nn.Linear(32, CZ))
        self.h_s = nn.Sequential(nn.Linear(CZ, 32), nn.GELU(), nn.Linear(32, CY))
        self.z_log_scale = mx.zeros((CZ,))

    def __call__(self, x, train=True):
        y = self.g_a(x) * 8.0
        z = self.h_a(mx.abs(y))
        if train:
            y_hat = y + mx.random.uniform(-0.5, 0.5, y.shape)
            z_hat = z + mx.random.uniform(-0.5, 0.5, z.shape)
        else:
            y_hat, z_hat = mx.round(y), mx.round(z)
        s = mx.exp(self.z_log_scale)
        pz = mx.sigmoid((z_hat + 0.5) / s) - mx.sigmoid((z_hat - 0.5) / s)
        sigma = mx.maximum(nn.softplus(self.h_s(z_hat)), 0.11)
        py = phi((y_hat + 0.5) / sigma) - phi((y_hat - 0.5) / sigma)
        bits_y = -mx.log2(mx.maximum(py, 1e-9)).sum(axis=1)
        bits_z = -mx.log2(mx.maximum(pz, 1e-9)).sum(axis=1)
        return self.g_s(y_hat / 8.0), bits_y, bits_z

LAM = 40.0
def objective(model, x):
    xh, by, bz = model(x, True)
    mse = mx.mean((xh - x) ** 2)
    rate = mx.mean(by + bz) / B
    return rate + LAM * mse * 10.0, (rate, mse)

def evaluate(model):
    xh, by, bz = model(Xte, False)
    mse = mx.mean((xh - Xte) ** 2).item()
    return (mx.mean(by).item() / B, mx.mean(bz).item() / B, mse, 10 * math.log10(var_te / mse))

def make_opt():
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1.5e-3, 100),
                                  optim.cosine_decay(1.5e-3, 1700, 5e-5)], [100])
    return optim.Adam(learning_rate=sched)

def train(model, opt, start, stop, report_every):
    vg = nn.value_and_grad(model, objective)
    t0 = time.time()
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, Xtr.shape[0], 128))
        (loss, (rate, mse)), g = vg(model, Xtr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if (step + 1) % report_every == 0:
            ry, rz, tm, snr = evaluate(model)
            print(f"| {step+1:5d} | {opt.learning_rate.item():.2e} | {loss.item():8.4f} | {ry:6.3f} | {rz:6.3f} | {tm:.5f} | {snr:6.2f} | {time.time()-t0:5.1f} |")

print(f"frames: train {Xtr.shape[0]}, test {Xte.shape[0]}, {B} bins; send-nothing baseline: mse {var_te:.4f}, snr 0.00 dB, 0 bits")
print("| step  | lr       | train obj | y b/bin | z b/bin | test mse | snr dB | secs  |")
print("|-------|----------|-----------|---------|---------|----------|--------|-------|")

mx.random.seed(3)
model, opt = HyperCodec(), make_opt()
ry, rz, tm, snr = evaluate(model)
print(f"|     0 | -        | -         | {ry:6.3f} | {rz:6.3f} | {tm:.5f} | {snr:6.2f} |   0.0 |")
train(model, opt, 0, 900, 150)

ckpt = tempfile.mkdtemp(prefix="codec_ckpt_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
saved = evaluate(model)
print(f"session 1 done: checkpoint in {ckpt} (optimizer step {int(opt.state['step'].item())})")
del model, opt

model2, opt2 = HyperCodec(), make_opt()
model2.load_weights(os.path.join(ckpt, "model.safetensors"))
opt2.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
restored = evaluate(model2)
print(f"session 2 restored: optimizer step {int(opt2.state['step'].item())}, test snr {restored[3]:.2f} dB "
      f"(saved {saved[3]:.2f} dB), next lr {float(opt2.learning_rate.item()):.2e}")
train(model2, opt2, 900, 1800, 150)
ry, rz, tm, snr = evaluate(model2)
print(f"final test: {ry + rz:.3f} bits/bin total ({rz:.3f} side info), snr {snr:.2f} dB")
shutil.rmtree(ckpt)
