"""Sobolev fit of a made-up triatomic bending/stretching energy surface.

Stage A fits energies only (force weight exactly 0).  Stage B adds the force
term, where forces are minus the input gradient of the network energy taken
per sample with mx.vmap(mx.grad(...)), so the training step differentiates
through a gradient.  The total loss jumps when stage B starts: a new term is
switched on, it is not a setback.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def true_energy_np(X):
    r1, r2, th = X[:, 0], X[:, 1], X[:, 2]
    morse = lambda r: 2.0 * (1.0 - np.exp(-1.4 * (r - 1.0))) ** 2
    return morse(r1) + morse(r2) + 0.8 * (th - 1.9) ** 2 + 0.3 * (r1 - 1.0) * (r2 - 1.0) * np.cos(th)


def true_forces_np(X, h=1e-4):
    F = np.zeros_like(X)
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        F[:, j] = -(true_energy_np(X + e) - true_energy_np(X - e)) / (2 * h)
    return F


def make_split(n):
    X = np.stack([rng.uniform(0.75, 1.6, n), rng.uniform(0.75, 1.6, n),
                  rng.uniform(1.3, 2.5, n)], axis=1)
    E = true_energy_np(X) + rng.normal(0, 0.01, n)
    F = true_forces_np(X) + rng.normal(0, 0.02, (n, 3))
    return (mx.array(X.astype(np.float32)), mx.array(E.astype(np.float32)),
            mx.array(F.astype(np.float32)))


Xtr, Etr, Ftr = make_split(3000)
Xva, Eva, Fva = make_split(600)


class EnergyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


def forces_of(model, X):
    e_single = lambda x: model(x[None])[0]
    return -mx.vmap(mx.grad(e_single))(X)


def loss_fn(model, X, E, F, w_force):
    e_loss = mx.mean((model(X) - E) ** 2)
    f_loss = mx.mean((forces_of(model, X) - F) ** 2)
    return e_loss + w_force * f_loss, (e_loss, f_loss)


def rmse(a, b):
    return math.sqrt(mx.mean((a - b) ** 2).item())


def main():
    mx.random.seed(3)
    model = EnergyNet()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 2e-3, 150)
    decay = optim.cosine_decay(2e-3, 1500, end=1e-4)
    sched = optim.join_schedules([warm, decay], [150])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    e_base = rmse(mx.full(Eva.shape, Etr.mean().item()), Eva)
    f_base = rmse(mx.zeros_like(Fva), Fva)
    print(f"baselines: energy rmse (predict mean) {e_base:.4f}  force rmse (predict zero) {f_base:.4f}")
    print(f"noise floors: energy 0.0100  force 0.0200")
    print(f"{'stage':>5} {'epoch':>5} {'step':>5} {'lr':>9} {'w_F':>4} {'total':>8} "
          f"{'E_mse':>8} {'F_mse':>8} {'val_E_rmse':>10} {'val_F_rmse':>10} {'sec':>5}")

    bs, step, t0 = 100, 0, time.time()
    for epoch in range(1, 41):
        stage = "A" if epoch <= 4 else "B"
        w_force = 0.0 if stage == "A" else 0.5
        perm = mx.array(rng.permutation(Xtr.shape[0]))
        tot = em = fm = 0.0
        nb = 0
        for i in range(0, Xtr.shape[0], bs):
            idx = perm[i:i + bs]
            lr_now = sched(opt.step).item()
            (loss, (el, fl)), grads = vg(model, Xtr[idx], Etr[idx], Ftr[idx], w_force)
            if step == 0:
                leaves = [g for _, g in tree_flatten(grads)]
                nz = sum(int(mx.any(g != 0).item()) for g in leaves)
                print(f"# first step: lr {lr_now:.1e} (warm-up starts at 0), "
                      f"{nz}/{len(leaves)} gradient leaves non-zero")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss, el, fl)
            tot += loss.item(); em += el.item(); fm += fl.item(); nb += 1
            step += 1
        ve = rmse(model(Xva), Eva)
        vf = rmse(forces_of(model, Xva), Fva)
        mark = "  <- force term switched on" if epoch == 5 else ""
        print(f"{stage:>5} {epoch:>5} {step:>5} {lr_now:>9.2e} {w_force:>4.1f} {tot/nb:>8.4f} "
              f"{em/nb:>8.4f} {fm/nb:>8.4f} {ve:>10.4f} {vf:>10.4f} {time.time()-t0:>5.1f}{mark}")
    print("done")


if __name__ == "__main__":
    main()
