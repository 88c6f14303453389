"""Optical-tweezers calibration: learn the trap force field and the bead diffusion
coefficient from noisy 2-D bead tracks with an Euler-Maruyama likelihood (neural SDE drift).

Stages use a growing frame stride (1, 3, 6 frames) so detector noise matters less and less;
the transition NLL goes UP at every stage change because the steps get longer.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s tweezer | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tweezer")

rng = np.random.default_rng(11)
mx.random.seed(11)

# ---- physics (SI-ish lab units: um, ms, pN) --------------------------------------------
kT = 4.11e-3            # pN*um at 25 C
gamma = 9.4             # pN*ms/um  (1 um bead in water, 6 pi eta r)
k_true = np.array([2.0, 1.3])          # pN/um, x and y stiffness
k3 = 300.0                             # pN/um^3 cubic stiffening along x
D_true = kT / gamma                     # um^2/ms
SCALE = 0.045                           # um per model unit
DT = 0.05                               # ms per camera frame
SUB = 10
n_beads, n_frames = 8, 6000
det_noise = 0.0025                      # um detector noise (2.5 nm)

def force(x):
    f = -k_true * x
    f[:, 0] -= k3 * x[:, 0] ** 3
    return f

x = rng.normal(0, math.sqrt(kT / k_true.mean()), size=(n_beads, 2))
h = DT / SUB
frames = np.empty((n_frames, n_beads, 2))
for t in range(n_frames):
    for _ in range(SUB):
        x = x + force(x) / gamma * h + math.sqrt(2 * D_true * h) * rng.normal(size=x.shape)
    frames[t] = x
obs = (frames + det_noise * rng.normal(size=frames.shape)) / SCALE   # model units
obs = obs.astype(np.float32)
D_ref = D_true / SCALE**2
log.info("simulated %d beads x %d frames, dt=%.2f ms, D_ref=%.3f u^2/ms, kx=%.2f ky=%.2f pN/um",
         n_beads, n_frames, DT, D_ref, *k_true)

def transitions(stride):
    a = obs[:-stride].reshape(-1, 2)
    b = obs[stride:].reshape(-1, 2)
    return mx.array(a), mx.array(b - a)

class DriftField(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 48)
        self.l2 = nn.Linear(48, 48)
        self.l3 = nn.Linear(48, 2)
        self.log_D = mx.array([0.0, 0.0])     # per-axis log diffusion, model units^2/ms

    def __call__(self, x):
        return self.l3(nn.silu(self.l2(nn.silu(self.l1(x)))))

def em_nll(model, x0, dx, tau):
    mean = model(x0) * tau
    var = 2.0 * mx.exp(model.log_D) * tau
    return 0.5 * mx.mean(mx.log(2 * math.pi * var) + (dx - mean) ** 2 / var)

def stiffness(model):
    # k = gamma_est * (-d drift / d x) at the trap centre, gamma_est = kT / D_est
    eps = 0.05
    pts = mx.array([[eps, 0.0], [-eps, 0.0], [0.0, eps], [0.0, -eps]])
    f = model(pts)
    slope = mx.stack([(f[0, 0] - f[1, 0]) / (2 * eps), (f[2, 1] - f[3, 1]) / (2 * eps)])
    D_um = mx.exp(model.log_D) * SCALE**2
    return -slope * (kT / D_um)

model = DriftField()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, em_nll)

t0 = time.time()
for stage, stride in enumerate((1, 3, 6), start=1):
    X0, DX = transitions(stride)
    n = X0.shape[0]
    tau = DT * stride
    steps = 300
    sched = optim.join_schedules([optim.linear_schedule(0.0, 1.2e-2, 60),
                                  optim.cosine_decay(1.2e-2, steps - 60, 3e-4)], [60])
    opt = optim.Adamax(learning_rate=sched)
    log.info("stage %d/3  stride=%d frames (%.2f ms)  %d transitions", stage, stride, tau, n)
    for it in range(steps):
        idx = mx.array(rng.integers(0, n, size=1024))
        loss, grads = loss_and_grad(model, X0[idx], DX[idx], tau)
        if stage == 1 and it == 0:
            gn = {k: float(mx.abs(v).sum()) for k, v in nn.utils.tree_flatten(grads)}
            log.info("grad audit: %d tensors, min |g|_1=%.3e", len(gn), min(gn.values()))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 60 == 0 or it == steps - 1:
            D_est = mx.exp(model.log_D) * SCALE**2
            k_est = stiffness(model)
            log.info("  it %3d  lr %.2e  nll %+.4f  D=(%.3f, %.3f) um2/s [ref %.3f]  "
                     "k=(%.2f, %.2f) pN/um [ref %.2f, %.2f]",
                     it, float(opt.learning_rate), float(loss),
                     1e3 * float(D_est[0]), 1e3 * float(D_est[1]), 1e3 * D_true,
                     float(k_est[0]), float(k_est[1]), *k_true)
    full = em_nll(model, X0, DX, tau)
    log.info("stage %d done: full-data nll %+.4f", stage, float(full))

log.info("calibration finished in %.1f s", time.time() - t0)
