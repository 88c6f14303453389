"""Salt-pan crystal survey: compress 24-band reflectance scans of evaporation
pans into short discrete codes with a finite-scalar-quantised (FSQ) autoencoder.

Stage A trains the autoencoder with a continuous bottleneck (no rounding) as a
warm start. Stage B switches the FSQ rounding on (levels 7x5x5x5 = 875 codes),
so reconstruction error steps up at the stage boundary and then recovers.
The scans carry sensor noise, so MSE levels off near the noise variance.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
BANDS = 24
NOISE = 0.05
N_TRAIN, N_VAL = 4000, 800

# five pan states, each a reflectance shape built from two gaussian bumps
grid = np.linspace(0.0, 1.0, BANDS)
centres = [(0.15, 0.55), (0.3, 0.8), (0.45, 0.2), (0.65, 0.9), (0.85, 0.4)]
protos = np.stack([
    0.6 * np.exp(-((grid - a) ** 2) / 0.01) + 0.4 * np.exp(-((grid - b) ** 2) / 0.02)
    for a, b in centres
])


def make(n):
    state = rng.integers(0, 5, n)
    brine = rng.uniform(0.5, 1.5, (n, 1))          # brine depth scales the signal
    crust = rng.uniform(-0.2, 0.2, (n, 1))          # crust whiteness tilts it
    clean = protos[state] * brine + crust * grid[None, :]
    noisy = clean + NOISE * rng.standard_normal((n, BANDS))
    return noisy.astype(np.float32), state


xtr_np, _ = make(N_TRAIN)
xva_np, sva = make(N_VAL)
mu, sd = xtr_np.mean(0), xtr_np.std(0) + 1e-6
xtr = mx.array((xtr_np - mu) / sd)
xva = mx.array((xva_np - mu) / sd)
floor = float(np.mean((NOISE / sd) ** 2))
mean_baseline = float(mx.mean(xva ** 2).item())

LEVELS = mx.array([7.0, 5.0, 5.0, 5.0])
HALF = (LEVELS - 1.0) / 2.0
N_CODES = int(np.prod([7, 5, 5, 5]))


def fsq(z):
    bounded = mx.tanh(z) * HALF
    rounded = mx.round(bounded)
    q = bounded + mx.stop_gradient(rounded - bounded)
    return q / HALF, rounded


class FSQAutoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(BANDS, 64), nn.GELU(),
                                 nn.Linear(64, 64), nn.GELU(), nn.Linear(64, 4))
        self.dec = nn.Sequential(nn.Linear(4, 64), nn.GELU(),
                                 nn.Linear(64, 64), nn.GELU(), nn.Linear(64, BANDS))

    def __call__(self, x, quantise):
        z = self.enc(x)
        if quantise:
            zq, _ = fsq(z)
        else:
            zq = mx.tanh(z)
        return self.dec(zq)

    def codes(self, x):
        _, r = fsq(self.enc(x))
        idx = mx.zeros(r.shape[0])
        base = 1.0
        for j in range(4):
            idx = idx + (r[:, j] + HALF[j]) * base
            base = base * float(LEVELS[j].item())
        return idx.astype(mx.int32)


mx.random.seed(3)
model = FSQAutoencoder()
mx.eval(model.parameters())

STAGE_A, TOTAL, WARM, PEAK = 300, 1200, 100, 2e-3
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 1e-5)],
    [WARM],
)
opt = optim.Adam(learning_rate=schedule)


def loss_fn(m, x, quantise):
    return mx.mean((m(x, quantise) - x) ** 2)


grad_a = nn.value_and_grad(model, lambda m, x: loss_fn(m, x, False))
grad_b = nn.value_and_grad(model, lambda m, x: loss_fn(m, x, True))


def code_stats():
    c = np.array(model.codes(xva))
    _, counts = np.unique(c, return_counts=True)
    p = counts / counts.sum()
    ppl = float(np.exp(-(p * np.log(p)).sum()))
    return len(counts), ppl


print(f"train {N_TRAIN} val {N_VAL} bands {BANDS}; sensor noise variance {floor:.4f}, "
      f"predict-mean baseline mse {mean_baseline:.4f}, codes available {N_CODES}")
t0 = time.time()
BS = 128
perm = np.arange(N_TRAIN)
for step in range(TOTAL):
    if step % (N_TRAIN // BS) == 0:
        rng.shuffle(perm)
    j = step % (N_TRAIN // BS)
    xb = xtr[mx.array(perm[j * BS:(j + 1) * BS])]
    stage_b = step >= STAGE_A
    if step == STAGE_A:
        print(f"-- stage B from step {step}: FSQ rounding on, levels 7x5x5x5 --")
    loss, grads = (grad_b if stage_b else grad_a)(model, xb)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    every = 150 if stage_b else 50
    if step % every == 0 or step == TOTAL - 1:
        val = loss_fn(model, xva, stage_b).item()
        line = (f"step {step:4d} stage {'B' if stage_b else 'A'} lr {opt.learning_rate.item():.2e} "
                f"train {loss.item():.4f} val {val:.4f}")
        if stage_b:
            used, ppl = code_stats()
            line += f" codes used {used}/{N_CODES} perplexity {ppl:.1f}"
        print(line, flush=True)

val_q = loss_fn(model, xva, True).item()
val_c = loss_fn(model, xva, False).item()
used, ppl = code_stats()
print(f"final val mse quantised {val_q:.4f} continuous {val_c:.4f} "
      f"(sensor noise variance {floor:.4f}, mean baseline {mean_baseline:.4f})")
print(f"final codes used {used}/{N_CODES}, perplexity {ppl:.1f}; "
      f"bits per scan {math.log2(N_CODES):.2f}; {time.time() - t0:.1f}s")
