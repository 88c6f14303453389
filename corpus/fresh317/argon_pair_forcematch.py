"""Force matching: learn a pair potential for a small 2-D noble-gas cluster.

Reduced Lennard-Jones units (epsilon = sigma = 1).  Reference forces come from a
smoothly truncated 12-6 potential; the network only ever sees noisy forces,
never energies.  Forces are minus the gradient of the predicted cluster energy
with respect to particle positions, so every training step differentiates
through an input gradient.

Schedule: linear warmup from lr exactly 0, cosine decay, a checkpoint written
half way and the run continued from a freshly built model loaded from it.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

RC = 2.5          # cutoff radius
N_ATOMS = 5
BOX = 3.2
R_MIN = 1.05
F_NOISE = 0.05


def cutoff_np(r):
    return np.where(r < RC, (1.0 - (r / RC) ** 2) ** 2, 0.0)


def true_pair_np(r):
    return 4.0 * (r ** -12 - r ** -6) * cutoff_np(r)


def true_forces_np(X):
    """Analytic reference forces (finite pieces of -dE/dx) for one configuration."""
    F = np.zeros_like(X)
    h = 1e-5
    for i in range(N_ATOMS):
        for j in range(i + 1, N_ATOMS):
            d = X[i] - X[j]
            r = np.linalg.norm(d)
            dphi = (true_pair_np(r + h) - true_pair_np(r - h)) / (2 * h)
            f = -dphi * d / r
            F[i] += f
            F[j] -= f
    return F


def sample_configs(n, rng):
    out = []
    while len(out) < n:
        X = rng.uniform(0.0, BOX, size=(N_ATOMS, 2))
        D = np.linalg.norm(X[:, None] - X[None], axis=-1) + np.eye(N_ATOMS) * 9.0
        if D.min() >= R_MIN:
            out.append(X)
    return np.stack(out)


class PairNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.l1 = nn.Linear(2, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, 1)

    def __call__(self, r):
        feats = mx.stack([1.0 / r, r / RC], axis=-1)
        h = mx.tanh(self.l1(feats))
        h = mx.tanh(self.l2(h))
        env = mx.where(r < RC, (1.0 - (r / RC) ** 2) ** 2, 0.0)
        return self.l3(h).squeeze(-1) * env


PAIR_MASK = mx.array(np.triu(np.ones((N_ATOMS, N_ATOMS)), k=1).astype(np.float32))
EYE = mx.eye(N_ATOMS)


def cluster_energy(model, X):
    d = X[:, :, None, :] - X[:, None, :, :]
    r = mx.sqrt((d * d).sum(-1) + EYE)
    return (model(r) * PAIR_MASK).sum(axis=(1, 2))


def predicted_forces(model, X):
    return -mx.grad(lambda P: cluster_energy(model, P).sum())(X)


def loss_fn(model, X, F):
    return mx.mean((predicted_forces(model, X) - F) ** 2)


def build_schedule(peak, warm, total):
    warmup = optim.linear_schedule(0.0, peak, warm)
    decay = optim.cosine_decay(peak, total - warm, 1e-5)
    return optim.join_schedules([warmup, decay], [warm])


def main():
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    t0 = time.time()
    Xtr = sample_configs(3000, rng)
    Xva = sample_configs(400, rng)
    Ftr_clean = np.stack([true_forces_np(x) for x in Xtr])
    Fva_clean = np.stack([true_forces_np(x) for x in Xva])
    Ftr = Ftr_clean + F_NOISE * rng.standard_normal(Ftr_clean.shape)
    Fva = Fva_clean + F_NOISE * rng.standard_normal(Fva_clean.shape)
    Xtr, Ftr = mx.array(Xtr, dtype=mx.float32), mx.array(Ftr, dtype=mx.float32)
    Xva, Fva = mx.array(Xva, dtype=mx.float32), mx.array(Fva, dtype=mx.float32)
    Fva_c = mx.array(Fva_clean, dtype=mx.float32)

    zero_base = mx.mean(Fva ** 2).item()
    floor = mx.mean((Fva - Fva_c) ** 2).item()
    print(f"configs train {Xtr.shape[0]} val {Xva.shape[0]}, atoms {N_ATOMS}, "
          f"data built in {time.time() - t0:.1f}s")
    print(f"val force mse baselines: zero-force {zero_base:.4f} | exact potential "
          f"(noise floor) {floor:.5f}")

    total, warm, batch, half = 700, 80, 64, 350
    model = PairNet()
    opt = optim.Adam(learning_rate=build_schedule(3e-3, warm, total))
    step_fn = nn.value_and_grad(model, loss_fn)

    sched = build_schedule(3e-3, warm, total)
    state = {"model": model, "opt": opt, "step_fn": step_fn}

    def run(start, stop, tag):
        m, o, f = state["model"], state["opt"], state["step_fn"]
        n = Xtr.shape[0]
        for step in range(start, stop):
            idx = mx.array(rng.integers(0, n, size=batch))
            loss, grads = f(m, Xtr[idx], Ftr[idx])
            o.update(m, grads)
            mx.eval(m.parameters(), o.state)
            if step % 100 == 0 or step == stop - 1:
                val = loss_fn(m, Xva, Fva).item()
                print(f"[{tag}] step {step:5d} lr {sched(step):.2e} train {loss.item():.5f} "
                      f"val {val:.5f}")

    run(0, half, "fit")

    with tempfile.TemporaryDirectory() as tmp:
        wpath = os.path.join(tmp, "pair.safetensors")
        opath = os.path.join(tmp, "opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        before = loss_fn(model, Xva, Fva).item()

        model = PairNet()
        model.load_weights(wpath)
        opt = optim.Adam(learning_rate=build_schedule(3e-3, warm, total))
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters(), opt.state)
        step_fn = nn.value_and_grad(model, loss_fn)
        after = loss_fn(model, Xva, Fva).item()
        print(f"checkpoint at step {half}: val {before:.5f} before save, "
              f"{after:.5f} after reload, optimizer step {opt.step.item()}")

    state.update(model=model, opt=opt, step_fn=step_fn)
    run(half, total, "resumed")

    val = loss_fn(model, Xva, Fva).item()
    clean = mx.mean((predicted_forces(model, Xva) - Fva_c) ** 2).item()
    rs = np.linspace(0.95, 2.6, 331).astype(np.float32)
    phi = np.array(model(mx.array(rs)))
    phi_t = true_pair_np(rs.astype(np.float64))
    k, kt = int(np.argmin(phi)), int(np.argmin(phi_t))
    sel = (rs >= 1.05) & (rs <= RC)
    print(f"final val force mse {val:.5f} (noise floor {floor:.5f}, zero-force {zero_base:.4f})")
    print(f"force error vs noiseless reference {clean:.5f}")
    print(f"pair well: depth {phi[k]:+.3f} at r={rs[k]:.3f} | reference {phi_t[kt]:+.3f} "
          f"at r={rs[kt]:.3f}")
    print(f"pair energy max abs error on [1.05, {RC}] {np.abs(phi - phi_t)[sel].max():.4f}")
    print(f"time {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
