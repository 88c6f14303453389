"""Canoe shop: clean up hand-measured half-breadth offsets of cedar-strip hull
stations with a small denoising autoencoder (4 numbers per station)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def banner(*lines, width=64):
    print("#" * width)
    for ln in lines:
        print("#  " + ln.ljust(width - 6) + "  #")
    print("#" * width)


banner("CANOE SHOP OFFSETS", "phase 0: simulate stations and fit the linear reference")
rng = np.random.default_rng(11)
P = 32
N_TR, N_VA = 4096, 1024
n = N_TR + N_VA
xs = np.linspace(0.0, 1.0, P)
beam = rng.uniform(0.30, 0.48, n)[:, None]
pw = rng.uniform(1.5, 4.0, n)[:, None]
qw = rng.uniform(0.3, 1.2, n)[:, None]
skew = rng.uniform(-0.08, 0.08, n)[:, None]
u = np.clip(np.abs(2 * (xs[None, :] - skew) - 1), 0, 1)
clean = beam * (1 - u ** pw) ** qw
noisy = clean + rng.normal(0, 0.012, clean.shape) + rng.normal(0, 0.006, (n, 1))
scale = clean[:N_TR].std()
cm, nm = clean / scale, noisy / scale
xtr, ttr = mx.array(nm[:N_TR].astype(np.float32)), mx.array(cm[:N_TR].astype(np.float32))
xva, tva = mx.array(nm[N_TR:].astype(np.float32)), mx.array(cm[N_TR:].astype(np.float32))

# linear reference: 4-component PCA of the noisy training stations
mean_tr = nm[:N_TR].mean(0)
_, _, vt = np.linalg.svd(nm[:N_TR] - mean_tr, full_matrices=False)
V = vt[:4].T
pca_va = (nm[N_TR:] - mean_tr) @ V @ V.T + mean_tr
pca_mse = float(np.mean((pca_va - cm[N_TR:]) ** 2))
raw_mse = float(np.mean((nm[N_TR:] - cm[N_TR:]) ** 2))
print(f"stations: train {N_TR}  valid {N_VA}  points per station {P}")
print(f"valid mse (scaled units): as measured {raw_mse:.5f}   pca-4 reference {pca_mse:.5f}")

mx.random.seed(4)
model = nn.Sequential(
    nn.Linear(P, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 4),
    nn.Linear(4, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, P))
mx.eval(model.parameters())


def loss_fn(m, x, t):
    return nn.losses.mse_loss(m(x), t)


BATCH = 128
SPE = N_TR // BATCH
CYCLES = [5, 10, 20]           # epochs per cycle, each restarting at the peak rate
PEAK = 3e-3
sched = optim.join_schedules(
    [optim.cosine_decay(PEAK, c * SPE, 1e-5) for c in CYCLES],
    list(np.cumsum([c * SPE for c in CYCLES[:-1]])))
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, loss_fn)

t_start = time.perf_counter()
ep = 0
for k, c in enumerate(CYCLES, 1):
    banner(f"CYCLE {k} of {len(CYCLES)}: {c} epochs",
           f"rate back to {PEAK} at step {opt.step.item()}, cosine down to 1e-5")
    for e in range(c):
        ep += 1
        perm = mx.array(rng.permutation(N_TR))
        tot = 0.0
        for i in range(SPE):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, g = vg(model, xtr[idx], ttr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        if e == 0 or (e + 1) % 5 == 0 or e == 1:
            va = loss_fn(model, xva, tva).item()
            print(f"  ep {ep:3d}  lr {opt.learning_rate.item():.6f}  train {tot / SPE:.5f}  "
                  f"valid {va:.5f}  pca-4 {pca_mse:.5f}  {time.perf_counter() - t_start:5.1f}s")

va = loss_fn(model, xva, tva).item()
banner("FINAL", f"valid mse {va:.5f}  pca-4 {pca_mse:.5f}  as measured {raw_mse:.5f}")
