"""Tuning-fork workshop: estimate a fork's pitch from a 20 ms strike recording.

The network predicts a Gaussian (mean and log-variance) over the pitch, trained
with the Gaussian negative log-likelihood, which goes below zero once the model
is confident.  Stage A keeps the convolutional front-end frozen at its random
init and trains only the head; stage B thaws the front-end and fine-tunes all
of it with a fresh, smaller-lr optimizer.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

WINDOW_S = 0.020
N = 96
rng = np.random.default_rng(2024)


def strikes(n):
    hz = rng.uniform(150.0, 600.0, n)
    t = np.arange(N) / N * WINDOW_S
    phase = rng.uniform(0, 2 * np.pi, n)
    tau = rng.uniform(0.008, 0.05, n)
    amp = rng.uniform(0.5, 1.5, n)
    overtone = rng.uniform(0.0, 0.3, n)
    sig = amp[:, None] * np.exp(-t[None] / tau[:, None]) * (
        np.sin(2 * np.pi * hz[:, None] * t[None] + phase[:, None])
        + overtone[:, None] * np.sin(2 * np.pi * 6.27 * hz[:, None] * t[None]))
    sig += rng.normal(0, 0.08, sig.shape)
    return sig[..., None].astype(np.float32), hz.astype(np.float32)


Xtr, ftr = strikes(4000)
Xva, fva = strikes(1000)
fmu, fsd = float(ftr.mean()), float(ftr.std())
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ytr_m, yva_m = mx.array((ftr - fmu) / fsd), mx.array((fva - fmu) / fsd)


class FrontEnd(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=9, padding=4)
        self.c2 = nn.Conv1d(16, 24, kernel_size=9, stride=2, padding=4)

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)


class PitchHead(nn.Module):
    def __init__(self, d=48, width=64):
        super().__init__()
        self.l1 = nn.Linear(d, width)
        self.l2 = nn.Linear(width, width)
        self.mean = nn.Linear(width, 1)
        self.logvar = nn.Linear(width, 1)

    def __call__(self, z):
        h = nn.relu(self.l1(z))
        h = nn.relu(self.l2(h))
        return self.mean(h).squeeze(-1), self.logvar(h).squeeze(-1)


class ForkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.front = FrontEnd()
        self.head = PitchHead()

    def __call__(self, x):
        return self.head(self.front(x))


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    logvar = mx.clip(logvar, -9.0, 6.0)
    return (0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi))).mean()


def evaluate(model):
    mu, logvar = model(Xva_m)
    nll = gaussian_nll(model, Xva_m, yva_m).item()
    pred_hz = np.array(mu) * fsd + fmu
    mae = float(np.mean(np.abs(pred_hz - fva)))
    sigma_hz = float(np.median(np.exp(0.5 * np.clip(np.array(logvar), -9, 6)))) * fsd
    return nll, mae, sigma_hz


def grad_audit(model, label):
    _, g = nn.value_and_grad(model, gaussian_nll)(model, Xtr_m[:64], ytr_m[:64])
    leaves = tree_flatten(g)
    nz = sum(1 for _, a in leaves if float(mx.abs(a).max()) > 0)
    print(f"[{label}] trainable leaves with a non-zero first gradient: {nz}/{len(leaves)}")


def run_stage(model, opt, stage, epochs, batch, first_epoch, t_start):
    vg = nn.value_and_grad(model, gaussian_nll)
    n_batches = len(ftr) // batch
    for e in range(epochs):
        perm = rng.permutation(len(ftr))
        run = 0.0
        for b in range(n_batches):
            idx = mx.array(perm[b * batch:(b + 1) * batch])
            loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.trainable_parameters(), opt.state, loss)
            run += loss.item()
        nll, mae, sig = evaluate(model)
        row = (stage, first_epoch + e, run / n_batches, nll, mae, sig,
               opt.learning_rate.item(), time.perf_counter() - t_start)
        print("{:<6}{:>6}{:>12.4f}{:>12.4f}{:>10.2f}{:>10.2f}{:>11.2e}{:>8.1f}".format(*row))
    return first_epoch + epochs


mx.random.seed(5)
model = ForkNet()
mx.eval(model.parameters())
front_before = [np.array(a) for _, a in tree_flatten(model.front.parameters())]

print(f"strikes: train {len(ftr)}  valid {len(fva)}  pitch {ftr.min():.0f}-{ftr.max():.0f} Hz"
      f"  (predict-the-mean MAE {np.mean(np.abs(fva - fmu)):.1f} Hz)")
model.front.freeze()
grad_audit(model, "stage A, front-end frozen")
nll0, mae0, sig0 = evaluate(model)
print("{:<6}{:>6}{:>12}{:>12}{:>10}{:>10}{:>11}{:>8}".format(
    "stage", "epoch", "train_nll", "valid_nll", "mae_Hz", "sigma_Hz", "lr", "secs"))
print("{:<6}{:>6}{:>12}{:>12.4f}{:>10.2f}{:>10.2f}{:>11}{:>8}".format("init", 0, "-", nll0, mae0, sig0, "-", "-"))

t0 = time.perf_counter()
opt_a = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
ep = run_stage(model, opt_a, "A", 8, 64, 1, t0)

drift = max(float(np.abs(np.array(a) - b).max())
            for (_, a), b in zip(tree_flatten(model.front.parameters()), front_before))
print(f"front-end max |change| during stage A: {drift:.1e} (frozen)")

model.front.unfreeze()
grad_audit(model, "stage B, all thawed")
opt_b = optim.AdamW(learning_rate=optim.cosine_decay(4e-4, 6 * (len(ftr) // 64), 2e-5),
                    weight_decay=1e-4)
run_stage(model, opt_b, "B", 6, 64, ep, t0)

nll, mae, sig = evaluate(model)
print(f"final: valid NLL {nll:.4f} nats (standardised pitch), MAE {mae:.2f} Hz, median sigma {sig:.2f} Hz")
