# marionette workshop: compress 32-sample string-tension traces (load cell on the
# control bar, 5 strings mixed into one channel) recorded while a puppeteer plays
# gestures (walk, bow, wave, jump, sit).  VAE with a KL weight that ramps 0 -> 1,
# so the total objective climbs during the ramp before it settles.
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(2024)
T = 32
t = np.linspace(0.0, 1.0, T)


def traces(n):
    kind = rs.randint(0, 5, n)
    tempo = rs.uniform(0.7, 1.4, n)[:, None]
    amp = rs.uniform(0.5, 1.5, n)[:, None]
    phase = rs.uniform(0, 2 * np.pi, n)[:, None]
    base = rs.uniform(-0.3, 0.3, n)[:, None]
    walk = np.sin(2 * np.pi * 3 * tempo * t + phase)
    bow = -np.exp(-((t - 0.5) ** 2) / (0.02 * tempo))
    wave = np.sin(2 * np.pi * 6 * tempo * t + phase) * np.exp(-2 * t)
    jump = np.where((t > 0.3) & (t < 0.3 + 0.15 * tempo), 1.8, -0.2) + 0 * phase
    sit = np.tanh(8 * (t - 0.4 * tempo)) * 0.8
    shapes = np.stack([walk, bow, wave, jump, sit], 1)
    x = base + amp * shapes[np.arange(n), kind] + rs.normal(0, 0.08, (n, T))
    return x.astype(np.float32)


Xtr = mx.array(traces(4000))
Xva = mx.array(traces(800))

LATENT = 6


class TensionVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(T, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, LATENT)
        self.logvar = nn.Linear(64, LATENT)
        self.dec = nn.Sequential(nn.Linear(LATENT, 64), nn.GELU(), nn.Linear(64, 64),
                                 nn.GELU(), nn.Linear(64, T))

    def __call__(self, x, key):
        h = self.enc(x)
        mu, lv = self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)
        z = mu + mx.exp(0.5 * lv) * mx.random.normal(mu.shape, key=key)
        return self.dec(z), mu, lv


def terms(model, x, key):
    xh, mu, lv = model(x, key)
    rec = mx.sum(mx.square(xh - x), axis=1).mean() / (2 * 0.08 ** 2) / T
    kl = (-0.5 * mx.sum(1 + lv - mu * mu - mx.exp(lv), axis=1)).mean() / T
    return rec, kl


def objective(model, x, key, beta):
    rec, kl = terms(model, x, key)
    return rec + beta * kl, (rec, kl)


mx.random.seed(11)
vae = TensionVAE()
mx.eval(vae.parameters())
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step_fn = nn.value_and_grad(vae, objective)

EPOCHS, BATCH, RAMP, PATIENCE = 40, 100, 12, 6
nb = Xtr.shape[0] // BATCH
root = mx.random.key(99)
best, best_ep, best_w, bad = float("inf"), -1, None, 0
t0 = time.time()

for ep in range(EPOCHS):
    beta = min(1.0, ep / RAMP)
    order = mx.array(rs.permutation(Xtr.shape[0]))
    s_tot = s_rec = s_kl = 0.0
    for b in range(nb):
        root, k = mx.random.split(root)
        xb = Xtr[order[b * BATCH:(b + 1) * BATCH]]
        (tot, (rec, kl)), g = step_fn(vae, xb, k, beta)
        g, gn = optim.clip_grad_norm(g, 50.0)
        opt.update(vae, g)
        mx.eval(vae.parameters(), opt.state, tot, rec, kl)
        s_tot += tot.item(); s_rec += rec.item(); s_kl += kl.item()
        if b % 8 == 0 or b == nb - 1:
            done = (b + 1) / nb
            bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
            sys.stdout.write(f"\rep {ep:02d} |{bar}| {b + 1:3d}/{nb} "
                             f"obj={s_tot / (b + 1):7.3f} rec={s_rec / (b + 1):7.3f} "
                             f"kl={s_kl / (b + 1):6.3f} b={beta:.2f} |g|={gn.item():6.2f}")
            sys.stdout.flush()
    vr, vk = terms(vae, Xva, mx.random.key(5))
    val_elbo = vr.item() + vk.item()   # full-weight objective, comparable across epochs
    mark = ""
    if ep >= RAMP and val_elbo < best - 1e-3:
        best, best_ep, bad = val_elbo, ep, 0
        best_w = tree_map(lambda a: mx.array(a), vae.parameters())
        mx.eval(best_w)
        mark = " *"
    elif ep >= RAMP:
        bad += 1
    sys.stdout.write(f"  val rec={vr.item():.3f} kl={vk.item():.3f} nelbo={val_elbo:.3f}{mark}"
                     f" [{time.time() - t0:5.1f}s]\n")
    if bad >= PATIENCE:
        print(f"early stop at epoch {ep}: no gain for {PATIENCE} epochs, best epoch {best_ep}")
        break

vae.update(best_w)
mx.eval(vae.parameters())
vr, vk = terms(vae, Xva, mx.random.key(5))
# reference: reconstructing every trace with the training mean trace
mean_tr = Xtr.mean(axis=0)
ref_rec = (mx.sum(mx.square(Xva - mean_tr), axis=1).mean() / (2 * 0.08 ** 2) / T).item()
active = int(mx.sum(mx.var(vae.mu(vae.enc(Xva)), axis=0) > 0.01).item())
print(f"restored epoch {best_ep}: val rec {vr.item():.3f} (mean-trace ref {ref_rec:.3f}, "
      f"noise floor 0.5), kl {vk.item():.3f} nats/sample-point, active dims {active}/{LATENT}")
