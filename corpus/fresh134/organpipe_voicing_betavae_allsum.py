"""Pipe-organ voicing notebook: a small beta-VAE over harmonic spectra of flue
and reed pipes, so the voicer can browse a 3-d "timbre map".

Each pipe gives 16 harmonic levels (dB re the fundamental). Four stop families
(principal, flute, string, reed) with different roll-offs, plus per-pipe
scaling, cut-up and wind-pressure variation.

Training uses cyclical KL annealing (beta goes 0 -> 1 in each of 3 cycles), so
the total objective climbs at the start of each cycle by design. Gradients are
averaged through mx.distributed (one process here; the same script runs under
mpirun on the voicing-room machines).
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()

rng = np.random.default_rng(7 + RANK)
H = 16
k = np.arange(1, H + 1, dtype=np.float64)


def make_pipes(n):
    fam = rng.integers(0, 4, size=n)
    out = np.zeros((n, H))
    for i, f in enumerate(fam):
        scale = rng.normal(0.0, 1.0)
        press = rng.normal(0.0, 1.0)
        if f == 0:      # principal: moderate roll-off
            spec = -6.0 * np.log2(k) * (1.0 + 0.15 * scale)
        elif f == 1:    # flute: strong roll-off, weak even harmonics
            spec = -11.0 * np.log2(k) * (1.0 + 0.1 * scale) - 4.0 * (k % 2 == 0)
        elif f == 2:    # string: slow roll-off, bright
            spec = -3.5 * np.log2(k) * (1.0 + 0.2 * scale) + 1.5 * np.sin(k / 2.0)
        else:           # reed: odd-harmonic emphasis, formant near 6-8
            spec = -5.0 * np.log2(k) - 6.0 * (k % 2 == 0) + 8.0 * np.exp(-((k - 7.0) ** 2) / 6.0)
        spec = spec + 1.2 * press * np.log2(k) / 4.0
        out[i] = spec + rng.normal(0.0, 0.8, size=H)
    return out.astype(np.float32), fam


Xtr, ftr = make_pipes(4800)
Xva, fva = make_pipes(1200)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr = (Xtr - mu) / sd
Xva = (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)


class VoicingVAE(nn.Module):
    def __init__(self, d=H, hid=64, z=3):
        super().__init__()
        self.enc1 = nn.Linear(d, hid)
        self.enc2 = nn.Linear(hid, hid)
        self.mu = nn.Linear(hid, z)
        self.logvar = nn.Linear(hid, z)
        self.dec1 = nn.Linear(z, hid)
        self.dec2 = nn.Linear(hid, hid)
        self.out = nn.Linear(hid, d)

    def encode(self, x):
        h = nn.gelu(self.enc2(nn.gelu(self.enc1(x))))
        return self.mu(h), mx.clip(self.logvar(h), -8.0, 6.0)

    def decode(self, z):
        return self.out(nn.gelu(self.dec2(nn.gelu(self.dec1(z)))))

    def __call__(self, x, key):
        m, lv = self.encode(x)
        eps = mx.random.normal(m.shape, key=key)
        z = m + mx.exp(0.5 * lv) * eps
        return self.decode(z), m, lv


def terms(model, x, key):
    xh, m, lv = model(x, key)
    recon = mx.sum(mx.square(xh - x), axis=1).mean()
    kl = (-0.5 * mx.sum(1.0 + lv - mx.square(m) - mx.exp(lv), axis=1)).mean()
    return recon, kl


def objective(model, x, key, beta):
    recon, kl = terms(model, x, key)
    return recon + beta * kl, (recon, kl)


model = VoicingVAE()
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=2e-3)
vg = nn.value_and_grad(model, objective)

CYCLES, EPOCHS_PER_CYCLE, BS = 3, 8, 96
steps_per_epoch = Xtr.shape[0] // BS
total_steps = CYCLES * EPOCHS_PER_CYCLE * steps_per_epoch
cycle_len = EPOCHS_PER_CYCLE * steps_per_epoch
key = mx.random.key(11)

t0 = time.time()
step = 0
first_check = True
for cyc in range(CYCLES):
    for ep in range(EPOCHS_PER_CYCLE):
        perm = rng.permutation(Xtr.shape[0])
        s_obj = s_rec = s_kl = 0.0
        for b in range(steps_per_epoch):
            # beta ramps 0 -> 1 over the first half of each cycle, then holds
            frac = (step % cycle_len) / (0.5 * cycle_len)
            beta = min(1.0, frac)
            idx = mx.array(perm[b * BS:(b + 1) * BS])
            key, sub = mx.random.split(key)
            (obj, (rec, kl)), grads = vg(model, Xtr_m[idx], sub, mx.array(beta))
            grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / WORLD, grads)
            if first_check:
                zero = [n for n, g in tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
                print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(grads)),
                                  "zero_grad_tensors": zero}))
                first_check = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, obj, rec, kl)
            s_obj += obj.item(); s_rec += rec.item(); s_kl += kl.item()
            step += 1
        vrec, vkl = terms(model, Xva_m, mx.random.key(99))
        mx.eval(vrec, vkl)
        if RANK == 0:
            print(json.dumps({
                "cycle": cyc + 1, "epoch": ep + 1, "beta": round(beta, 3),
                "train_obj": round(s_obj / steps_per_epoch, 4),
                "train_recon": round(s_rec / steps_per_epoch, 4),
                "train_kl_nats": round(s_kl / steps_per_epoch, 4),
                "val_recon": round(vrec.item(), 4), "val_kl_nats": round(vkl.item(), 4),
                "val_elbo_per_pipe": round(-(vrec.item() + vkl.item()), 4),
                "world": WORLD,
            }))

# family separation in the latent means: nearest-centroid accuracy on val
m_tr, _ = model.encode(Xtr_m)
m_va, _ = model.encode(Xva_m)
m_tr, m_va = np.array(m_tr), np.array(m_va)
cent = np.stack([m_tr[ftr == f].mean(0) for f in range(4)])
pred = np.argmin(((m_va[:, None, :] - cent[None]) ** 2).sum(-1), axis=1)
acc = float((pred == fva).mean())
baseline_recon = float(np.sum(Xva ** 2, axis=1).mean())  # predict the mean spectrum
if RANK == 0:
    print(json.dumps({"event": "summary", "val_recon": round(vrec.item(), 4),
                      "mean_spectrum_recon": round(baseline_recon, 4),
                      "latent_family_acc_pct": round(100 * acc, 1), "chance_pct": 25.0,
                      "seconds": round(time.time() - t0, 1)}))
