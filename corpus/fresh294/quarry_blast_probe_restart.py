"""Regional seismic network: 32-bin log spectra of short events.

A denoising autoencoder learns the spectra without labels (AdamW, cosine lr).
Beside it, an online linear probe reads the detached 6-d code and predicts the
event type (quarry blast / local quake / wind burst) with its own SGD optimizer.
The probe is thrown away and started fresh every 400 steps, so each probe
generation shows how readable the current code is.
Reports are YAML documents.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

BINS, CODE, CLASSES = 32, 6, 3
NOISE = 0.15
rng = np.random.default_rng(21)
f = np.linspace(0, 1, BINS)


def make(n):
    cls = rng.choice(CLASSES, n, p=[0.5, 0.3, 0.2])
    mag = rng.uniform(0.5, 1.5, n)[:, None]
    corner = np.where(cls == 0, 0.25, np.where(cls == 1, 0.5, 0.75))[:, None] + rng.normal(0, 0.08, (n, 1))
    spec = mag * np.exp(-((f[None] - corner) ** 2) / 0.02)
    spec += (cls == 0)[:, None] * 0.4 * np.exp(-((f[None] - 0.1) ** 2) / 0.002)
    spec += rng.normal(0, NOISE, spec.shape)
    return spec.astype(np.float32), cls


x_tr, c_tr = make(8000)
x_va, c_va = make(2000)
m, s = x_tr.mean(0), x_tr.std(0)
x_tr, x_va = (x_tr - m) / s, (x_va - m) / s
X, C = mx.array(x_tr), mx.array(c_tr)
XV, CV = mx.array(x_va), mx.array(c_va)
mean_ref = float(np.mean(x_va ** 2))
majority = 100 * np.mean(c_va == np.bincount(c_tr).argmax())


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BINS, 64), nn.SiLU(), nn.Linear(64, CODE))
        self.dec = nn.Sequential(nn.Linear(CODE, 64), nn.SiLU(), nn.Linear(64, BINS))

    def __call__(self, x):
        z = self.enc(x)
        return z, self.dec(z)


def ae_loss(model, x_noisy, x):
    _, rec = model(x_noisy)
    return mx.mean((rec - x) ** 2)


def probe_loss(probe, z, c):
    return nn.losses.cross_entropy(probe(z), c, reduction="mean")


STEPS, RESTART, REPORT = 1600, 400, 200
mx.random.seed(5)
ae = AutoEncoder()
ae_opt = optim.AdamW(learning_rate=optim.cosine_decay(2e-3, STEPS, 1e-4), weight_decay=1e-4)
ae_grad = nn.value_and_grad(ae, ae_loss)


def new_probe():
    p = nn.Linear(CODE, CLASSES)
    return p, optim.SGD(learning_rate=0.2, momentum=0.9), nn.value_and_grad(p, probe_loss)


probe, probe_opt, pr_grad = new_probe()
generation = 1
batch_rng = np.random.default_rng(8)
ae_hist, pr_hist = [], []
t0 = time.perf_counter()
print(f"# {len(x_tr)} train / {len(x_va)} valid spectra, {BINS} bins, code size {CODE}")
print(f"# valid mse of the mean spectrum {mean_ref:.4f}, majority-class accuracy {majority:.1f} %")
for step in range(1, STEPS + 1):
    if step > 1 and (step - 1) % RESTART == 0:
        probe, probe_opt, pr_grad = new_probe()
        generation += 1
        pr_hist = []
    idx = mx.array(batch_rng.integers(0, len(x_tr), 128))
    x, c = X[idx], C[idx]
    x_noisy = x + 0.3 * mx.random.normal(x.shape)
    l_ae, g = ae_grad(ae, x_noisy, x)
    ae_opt.update(ae, g)
    z = mx.stop_gradient(ae.enc(x))
    l_pr, gp = pr_grad(probe, z, c)
    probe_opt.update(probe, gp)
    mx.eval(ae.parameters(), ae_opt.state, probe.parameters(), probe_opt.state, l_ae, l_pr)
    ae_hist.append(l_ae.item())
    pr_hist.append(l_pr.item())
    if step == 1 or step % REPORT == 0:
        zv, rv = ae(XV)
        acc = 100 * mx.mean(mx.argmax(probe(zv), axis=1) == CV).item()
        print("---")
        print(f"step: {step}")
        print(f"ae_lr: {ae_opt.learning_rate.item():.6f}")
        print(f"train_recon_mse: {np.mean(ae_hist[-REPORT:]):.4f}")
        print(f"valid_recon_mse: {mx.mean((rv - XV) ** 2).item():.4f}")
        print(f"probe_generation: {generation}")
        print(f"probe_steps: {probe_opt.step.item()}")
        print(f"probe_xent: {np.mean(pr_hist[-50:]):.4f}")
        print(f"probe_valid_acc_pct: {acc:.1f}")
        print(f"elapsed_s: {time.perf_counter() - t0:.1f}")
print("...")
