"""Variational eigen-solver for a 1-D anharmonic oscillator.

H = -1/2 d^2/dx^2 + 1/2 x^2 + lam x^4   (hbar = m = omega = 1)

A small tanh network f(x) times a Gaussian envelope gives the trial wave
function psi(x) = f(x) exp(-x^2 / 2).  The Rayleigh quotient
    E[psi] = int (1/2 psi'^2 + V psi^2) dx / int psi^2 dx
is minimised on a static trapezoid grid; psi' comes from mx.grad with respect
to the grid coordinates.  Stage 1 finds the ground level, stage 2 the first excited
level with an overlap penalty against the frozen stage-1 state.
The reference levels come from a finite-difference diagonalisation.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

LAM = 0.1
L_BOX = 6.0
N_GRID = 241
mx.random.seed(11)
np.random.seed(11)


def reference_levels(n=2000, k=3):
    x = np.linspace(-L_BOX, L_BOX, n)
    h = x[1] - x[0]
    v = 0.5 * x**2 + LAM * x**4
    main = 1.0 / h**2 + v
    off = -0.5 / h**2 * np.ones(n - 1)
    ham = np.diag(main) + np.diag(off, 1) + np.diag(off, -1)
    return np.linalg.eigvalsh(ham)[:k]


class Amplitude(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.l1 = nn.Linear(1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)

    def __call__(self, x):
        h = mx.tanh(self.l1(x))
        h = mx.tanh(self.l2(h))
        return self.l3(h)


x_np = np.linspace(-L_BOX, L_BOX, N_GRID).astype(np.float32)
dx = float(x_np[1] - x_np[0])
w_np = np.full(N_GRID, dx, dtype=np.float32)
w_np[0] = w_np[-1] = dx / 2
X = mx.array(x_np)
W = mx.array(w_np)
V = 0.5 * X**2 + LAM * X**4


def psi_and_slope(model, xs):
    def psi_of(z):
        return model(z[:, None])[:, 0] * mx.exp(-0.5 * z**2)

    # each psi_i depends on x_i only, so d(sum psi)/dx_i = psi'(x_i)
    psi = psi_of(xs)
    dpsi = mx.grad(lambda z: mx.sum(psi_of(z)))(xs)
    return psi, dpsi


def rayleigh(model):
    psi, dpsi = psi_and_slope(model, X)
    norm = mx.sum(W * psi * psi)
    kinetic = 0.5 * mx.sum(W * dpsi * dpsi)
    potential = mx.sum(W * V * psi * psi)
    return (kinetic + potential) / norm, psi, norm


def make_schedule(peak, warm, total):
    warmup = optim.linear_schedule(0.0, peak, warm)
    decay = optim.cosine_decay(peak, total - warm, end=peak * 0.02)
    return optim.join_schedules([warmup, decay], [warm])


def run_stage(name, model, loss_fn, steps, peak_lr, e_ref, log_every):
    opt = optim.Adam(learning_rate=make_schedule(peak_lr, 80, steps))
    step_fn = nn.value_and_grad(model, loss_fn)
    print(f"--- stage {name}: {steps} steps, Adam peak lr {peak_lr}, warmup from 0 ---")
    print(f"{'step':>5} {'lr':>9} {'objective':>10} {'energy':>9} {'E_ref':>9} {'gap':>9}")
    for it in range(steps + 1):
        lr_now = opt.learning_rate.item()
        (obj, energy), grads = step_fn(model)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, obj, energy)
        if it % log_every == 0 or it == steps:
            e = energy.item()
            print(f"{it:5d} {lr_now:9.2e} {obj.item():10.5f} {e:9.5f} {e_ref:9.5f} {e - e_ref:9.2e}")
    return model


def main():
    t0 = time.time()
    refs = reference_levels()
    print(f"anharmonic oscillator lam={LAM}: reference levels (finite differences, 2000 pts)")
    print(f"  E0={refs[0]:.5f}  E1={refs[1]:.5f}  E2={refs[2]:.5f}")
    print(f"  harmonic-only baselines: E0=0.50000  E1=1.50000")
    print(f"  first-order perturbation: E0={0.5 + 0.75 * LAM:.5f}  E1={1.5 + 3.75 * LAM:.5f}")

    ground = Amplitude()
    mx.eval(ground.parameters())

    def ground_loss(model):
        e, _, _ = rayleigh(model)
        return e, e

    run_stage("ground", ground, ground_loss, 500, 3e-3, refs[0], 50)
    ground.freeze()
    e0, psi0, n0 = rayleigh(ground)
    psi0 = mx.stop_gradient(psi0)
    n0 = mx.stop_gradient(n0)
    mx.eval(e0, psi0, n0)

    excited = Amplitude()
    mx.eval(excited.parameters())
    beta = 20.0

    def excited_loss(model):
        e, psi, n = rayleigh(model)
        overlap = mx.sum(W * psi0 * psi) ** 2 / (n0 * n)
        return e + beta * overlap, e

    run_stage("excited", excited, excited_loss, 700, 5e-3, refs[1], 100)
    e1, psi1, n1 = rayleigh(excited)
    ov = (mx.sum(W * psi0 * psi1) ** 2 / (n0 * n1)).item()

    print("--- summary ---")
    print(f"{'level':>8} {'network':>9} {'reference':>10} {'rel.err':>9} {'harmonic':>9} {'1st-order':>10}")
    print(f"{'E0':>8} {e0.item():9.5f} {refs[0]:10.5f} {abs(e0.item() - refs[0]) / refs[0]:9.2e} {0.5:9.5f} {0.5 + 0.75 * LAM:10.5f}")
    print(f"{'E1':>8} {e1.item():9.5f} {refs[1]:10.5f} {abs(e1.item() - refs[1]) / refs[1]:9.2e} {1.5:9.5f} {1.5 + 3.75 * LAM:10.5f}")
    print(f"overlap^2 <psi0|psi1> = {ov:.2e}")
    print(f"wall time {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
