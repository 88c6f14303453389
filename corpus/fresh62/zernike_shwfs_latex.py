"""Shack-Hartmann wavefront sensor reconstructor: spot displacements -> Zernike coefficients.

8x8 lenslet grid (inside a circular pupil), x/y centroid shifts are the averaged gradients of
the wavefront over each sub-aperture, plus centroid noise and pixel quantisation. A small MLP
learns the (slightly nonlinear, because of quantisation and spot saturation) reconstructor.
Output is a LaTeX tabular ready to paste in a lab report.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
NZ = 8  # Zernike modes 2..9 (tip, tilt, defocus, astig x2, coma x2, spherical)


def zernike_grad(x, y):
    # analytic d/dx, d/dy of Noll modes 2..9 (unnormalised forms)
    r2 = x * x + y * y
    gx = np.stack([np.ones_like(x), np.zeros_like(x), 4 * x, 2 * y, 2 * x,
                   (9 * x * x + 3 * y * y - 2) * 1.0, 6 * x * y, 24 * r2 * x - 12 * x], -1)
    gy = np.stack([np.zeros_like(y), np.ones_like(y), 4 * y, 2 * x, -2 * y,
                   6 * x * y, (3 * x * x + 9 * y * y - 2) * 1.0, 24 * r2 * y - 12 * y], -1)
    return gx, gy


g = (np.arange(8) + 0.5) / 4.0 - 1.0
xx, yy = np.meshgrid(g, g)
inside = (xx ** 2 + yy ** 2) <= 1.0
xs, ys = xx[inside], yy[inside]
GX, GY = zernike_grad(xs, ys)
M = np.concatenate([GX, GY], 0)  # (2*n_sub, NZ)
n_sub = xs.size


def make(n):
    a = rng.normal(0, 1, (n, NZ)) / np.arange(1, NZ + 1) ** 0.5
    s = a @ M.T
    s = np.tanh(s / 3.0) * 3.0                 # spot leaves its sub-aperture: saturation
    s = s + rng.normal(0, 0.08, s.shape)       # centroid noise
    s = np.round(s * 8) / 8                    # pixel quantisation
    return s.astype(np.float32), a.astype(np.float32)


Xtr, Ytr = make(6000)
Xte, Yte = make(1500)
Xtr, Ytr, Xte, Yte = map(mx.array, (Xtr, Ytr, Xte, Yte))

# least-squares (linear) reconstructor baseline
R = np.linalg.pinv(M)
lin_rms = float(np.sqrt(np.mean((np.array(Xte) @ R.T - np.array(Yte)) ** 2)))

model = nn.Sequential(nn.Linear(2 * n_sub, 128), nn.SiLU(), nn.Linear(128, 64), nn.SiLU(),
                      nn.Linear(64, NZ))


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
steps_per_epoch = 6000 // 50
epochs = 20
sched = optim.join_schedules([optim.linear_schedule(1e-4, 2e-3, steps_per_epoch),
                              optim.cosine_decay(2e-3, (epochs - 1) * steps_per_epoch, 5e-5)],
                             [steps_per_epoch])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

_, g0 = vg(model, Xtr[:50], Ytr[:50])
leaves = tree_flatten(g0)
nzero = sum(int(float(mx.max(mx.abs(v))) == 0.0) for _, v in leaves)

print(r"% " + f"{n_sub} sub-apertures, {len(leaves)} gradient leaves, {nzero} with zero gradient")
print(r"\begin{tabular}{rrrrr}")
print(r"\hline")
print(r"epoch & train MSE & test RMS [rad] & linear LS [rad] & time [s] \\")
print(r"\hline")
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(6000))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * 50:(i + 1) * 50]
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    test_rms = mx.sqrt(mx.mean((model(Xte) - Yte) ** 2)).item()
    if ep == 1 or ep % 2 == 0:
        print(f"{ep:2d} & {tot / steps_per_epoch:.4f} & {test_rms:.4f} & {lin_rms:.4f} & {time.time() - t0:.1f} \\\\")
print(r"\hline")
print(r"\end{tabular}")
per_mode = mx.sqrt(mx.mean((model(Xte) - Yte) ** 2, axis=0)).tolist()
print(r"% per-mode RMS (Noll 2..9): " + " ".join(f"{v:.3f}" for v in per_mode))
