"""Behler-Parrinello style neural potential for small synthetic water-like clusters.

Each cluster has 6 atoms of two kinds (heavy "O" and light "H"), with a varying
composition. Reference energies come from a made-up Morse pair potential plus a weak
three-body bend term, reported in kcal/mol on top of large per-element reference
energies (as a quantum-chemistry code would report totals). Forces are the exact
negative gradient of that reference surface.

Training follows the usual recipe for machine-learned potentials:
  * per-element energy offsets fitted by least squares on the element counts first
    (the "composition baseline"), the network only learns the residual;
  * energies converted kcal/mol -> eV, residuals scaled by one energy unit that is
    shared with the forces (forces scaled by the same unit per Angstrom);
  * radial atom-centred symmetry functions per neighbour element as descriptors;
  * per-element atomic MLPs, total energy = sum of atomic energies;
  * forces = -dE/dR by mx.grad through the descriptors (second-order training);
  * DeePMD-style loss prefactors: force weight starts high and is annealed down while
    the energy weight is annealed up, with an exponentially decaying learning rate.
The weighted total loss is therefore not comparable from one report to the next; the
energy / force errors printed next to it are the numbers to watch.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

KCAL_TO_EV = 0.0433641
N_ATOMS = 6
RC = 4.0  # cutoff (Angstrom)
MU = np.linspace(0.7, 3.9, 16).astype(np.float32)
ETA = 10.0
E_REF = {0: -2041.2, 1: -13.58}  # eV per isolated atom, made up: 0 = O, 1 = H

# ---------------------------------------------------------------- reference surface
# Morse parameters per pair kind: OO, OH, HH   (D in kcal/mol, a in 1/A, r0 in A)
MORSE = np.array([[2.5, 1.6, 2.9],
                  [110.0, 2.2, 0.97],
                  [1.2, 1.8, 2.2]], dtype=np.float32)


def pair_kind(zi, zj):
    return zi + zj  # 0: OO, 1: OH, 2: HH


def reference_energy_kcal(pos, z):
    """pos (B, N, 3) mx array, z (B, N) int -> energy (B,) in kcal/mol (interaction part)."""
    diff = pos[:, :, None, :] - pos[:, None, :, :]
    r = mx.sqrt(mx.sum(diff * diff, axis=-1) + 1e-9)
    kind = z[:, :, None] + z[:, None, :]
    par = mx.array(MORSE)[kind]
    D, a, r0 = par[..., 0], par[..., 1], par[..., 2]
    morse = D * ((1 - mx.exp(-a * (r - r0))) ** 2 - 1)
    mask = 1.0 - mx.eye(N_ATOMS)[None]
    e2 = 0.5 * mx.sum(morse * mask, axis=(1, 2))
    # weak bend term on every angle centred on an O atom: 3 * (cos - cos(104.5 deg))^2 * damping
    u = diff / r[..., None]
    cos = mx.sum(u[:, :, :, None, :] * u[:, :, None, :, :], axis=-1)  # (B, i, j, k)
    damp = mx.exp(-((r - 1.0) ** 2) / 0.2)
    w = damp[:, :, :, None] * damp[:, :, None, :]
    centre_o = (z == 0).astype(mx.float32)[:, :, None, None]
    jk = (1.0 - mx.eye(N_ATOMS))[None, None] * mask[:, :, :, None] * mask[:, :, None, :]
    e3 = 0.5 * mx.sum(3.0 * (cos + 0.2504) ** 2 * w * centre_o * jk, axis=(1, 2, 3))
    return e2 + e3


def make_set(n, rng):
    pos_all, z_all = [], []
    while len(pos_all) < n:
        n_o = rng.integers(1, 4)
        z = np.array([0] * n_o + [1] * (N_ATOMS - n_o))
        pos = np.zeros((N_ATOMS, 3), np.float32)
        # place O atoms roughly 2.8 A apart, each H near some O
        for i in range(n_o):
            pos[i] = rng.normal(0, 1.2, 3) if i else 0.0
        hosts = np.full(N_ATOMS, -1)
        for i in range(n_o, N_ATOMS):
            host = rng.integers(0, n_o)
            hosts[i] = host
            v = rng.normal(size=3)
            pos[i] = pos[host] + 0.97 * v / np.linalg.norm(v) + rng.normal(0, 0.06, 3)
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        bonded = np.zeros((N_ATOMS, N_ATOMS), bool)
        for i in range(n_o, N_ATOMS):
            bonded[i, hosts[i]] = bonded[hosts[i], i] = True
        off = d[~np.eye(N_ATOMS, dtype=bool)]
        loose = d[~np.eye(N_ATOMS, dtype=bool) & ~bonded]
        if loose.min() < 1.4 or off.max() > 3.9:
            continue
        # random rotation, so the set has no preferred orientation
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        pos_all.append((pos - pos.mean(0)) @ q.T)
        z_all.append(z)
    pos = mx.array(np.stack(pos_all).astype(np.float32))
    z = mx.array(np.stack(z_all).astype(np.int32))
    e_kcal = reference_energy_kcal(pos, z)
    f_kcal = -mx.grad(lambda p: mx.sum(reference_energy_kcal(p, z)))(pos)
    # what a QM code would hand over: totals in kcal/mol with element references included
    counts = np.stack([(np.array(z) == k).sum(1) for k in (0, 1)], 1).astype(np.float64)
    ref = counts @ np.array([E_REF[0], E_REF[1]]) / KCAL_TO_EV
    e_total_kcal = np.array(e_kcal, dtype=np.float64) + ref + rng.normal(0, 0.15, n)
    f_kcal = np.array(f_kcal) + rng.normal(0, 0.3, f_kcal.shape)
    return pos, z, counts, e_total_kcal, f_kcal


# ---------------------------------------------------------------- descriptors + model
def cutoff(r):
    return mx.where(r < RC, 0.5 * (mx.cos(math.pi * r / RC) + 1.0), 0.0)


def descriptors(pos, z):
    """Radial symmetry functions, one block per neighbour element -> (B, N, 2*len(MU))."""
    diff = pos[:, :, None, :] - pos[:, None, :, :]
    r = mx.sqrt(mx.sum(diff * diff, axis=-1) + 1e-12)
    mask = 1.0 - mx.eye(N_ATOMS)[None]
    g = mx.exp(-ETA * (r[..., None] - mx.array(MU)) ** 2) * (cutoff(r) * mask)[..., None]
    blocks = []
    for k in (0, 1):
        nb = (z == k).astype(mx.float32)[:, None, :, None]
        blocks.append(mx.sum(g * nb, axis=2))
    return mx.concatenate(blocks, axis=-1)


class AtomicNet(nn.Module):
    def __init__(self, d_in, width=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))[..., 0]


class BPPotential(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.nets = [AtomicNet(d_in), AtomicNet(d_in)]  # O, H
        self.g_mean = mx.zeros((d_in,))
        self.g_std = mx.ones((d_in,))

    def energy(self, pos, z):
        g = (descriptors(pos, z) - self.g_mean) / self.g_std
        e_atoms = mx.zeros(z.shape)
        for k, net in enumerate(self.nets):
            e_atoms = e_atoms + (z == k).astype(mx.float32) * net(g)
        return mx.sum(e_atoms, axis=1)


def energy_and_forces(model, pos, z):
    e, de_dr = mx.value_and_grad(lambda p: mx.sum(model.energy(p, z)))(pos)
    return model.energy(pos, z), -de_dr


# ---------------------------------------------------------------- run
def main():
    t0 = time.time()
    rng = np.random.default_rng(7)
    mx.random.seed(7)
    pos_tr, z_tr, cnt_tr, e_tr_kcal, f_tr_kcal = make_set(2400, rng)
    pos_va, z_va, cnt_va, e_va_kcal, f_va_kcal = make_set(400, rng)
    print(f"clusters: train {pos_tr.shape[0]}  val {pos_va.shape[0]}  atoms/cluster {N_ATOMS}")
    print(f"raw total energies (kcal/mol): mean {e_tr_kcal.mean():.1f}  min {e_tr_kcal.min():.1f}  max {e_tr_kcal.max():.1f}")

    # units: kcal/mol -> eV
    e_tr, e_va = e_tr_kcal * KCAL_TO_EV, e_va_kcal * KCAL_TO_EV
    f_tr, f_va = f_tr_kcal * KCAL_TO_EV, f_va_kcal * KCAL_TO_EV

    # composition baseline: per-element offsets by least squares on element counts
    offs, *_ = np.linalg.lstsq(cnt_tr, e_tr, rcond=None)
    print(f"fitted per-element offsets (eV): O {offs[0]:.3f}  H {offs[1]:.3f}")
    res_tr, res_va = e_tr - cnt_tr @ offs, e_va - cnt_va @ offs
    unit = float(res_tr.std())  # one energy unit shared by energies and forces
    print(f"residual energy spread {unit:.4f} eV -> used as the training energy unit")
    base_e_mae = np.abs(res_va).mean() / N_ATOMS * 1000
    base_f_rmse = float(np.sqrt((f_va ** 2).mean()))
    print(f"composition-only baseline on val: E MAE {base_e_mae:.2f} meV/atom  F RMSE {base_f_rmse:.3f} eV/A")

    y_tr = mx.array((res_tr / unit).astype(np.float32))
    y_va = mx.array((res_va / unit).astype(np.float32))
    fy_tr = mx.array((f_tr / unit).astype(np.float32))
    fy_va = mx.array((f_va / unit).astype(np.float32))

    g_tr = descriptors(pos_tr, z_tr).reshape(-1, 2 * len(MU))
    model = BPPotential(2 * len(MU))
    model.g_mean = mx.mean(g_tr, axis=0)
    model.g_std = mx.std(g_tr, axis=0) + 1e-3
    model.freeze(keys=["g_mean", "g_std"], recurse=False)

    steps, batch = 900, 56
    lr_sched = optim.exponential_decay(3e-3, (5e-5 / 3e-3) ** (1 / steps))
    opt = optim.Adam(learning_rate=lr_sched)
    pe0, pe1, pf0, pf1 = 0.02, 1.0, 100.0, 1.0

    def loss_fn(mdl, pos, z, y, fy, pe, pf):
        e, f = energy_and_forces(mdl, pos, z)
        le = mx.mean(((e - y) / N_ATOMS) ** 2)
        lf = mx.mean((f - fy) ** 2)
        return pe * le + pf * lf, (le, lf)

    step_fn = nn.value_and_grad(model, loss_fn)

    def evaluate():
        e, f = energy_and_forces(model, pos_va, z_va)
        e_mae = mx.mean(mx.abs(e - y_va)).item() * unit / N_ATOMS * 1000
        f_rmse = math.sqrt(mx.mean((f - fy_va) ** 2).item()) * unit
        return e_mae, f_rmse

    n = pos_tr.shape[0]
    perm = np.random.default_rng(1).permutation(n)
    ptr = 0
    for step in range(1, steps + 1):
        if ptr + batch > n:
            perm, ptr = np.random.default_rng(step).permutation(n), 0
        idx = mx.array(perm[ptr:ptr + batch])
        ptr += batch
        frac = (step - 1) / (steps - 1)
        pe = pe0 + (pe1 - pe0) * frac
        pf = pf0 + (pf1 - pf0) * frac
        (loss, (le, lf)), grads = step_fn(model, pos_tr[idx], z_tr[idx], y_tr[idx], fy_tr[idx], pe, pf)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == 1:
            e_mae, f_rmse = evaluate()
            print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  pref_e {pe:6.3f} pref_f {pf:7.2f}  "
                  f"weighted loss {loss.item():8.4f}  | val E MAE {e_mae:7.2f} meV/atom  F RMSE {f_rmse:.4f} eV/A")

    e_mae, f_rmse = evaluate()
    print(f"final val: E MAE {e_mae:.2f} meV/atom (baseline {base_e_mae:.2f})  "
          f"F RMSE {f_rmse:.4f} eV/A (baseline {base_f_rmse:.3f})")

    # invariance / equivariance check on a rotated + translated copy of the val set
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(3, 3)))
    rot = mx.array(q.astype(np.float32))
    shifted = pos_va @ rot.T + mx.array([0.3, -1.1, 2.0])
    e0, f0 = energy_and_forces(model, pos_va, z_va)
    e1, f1 = energy_and_forces(model, shifted, z_va)
    de = mx.max(mx.abs(e1 - e0)).item() * unit
    df = mx.max(mx.abs(f1 - f0 @ rot.T)).item() * unit
    print(f"rotated/translated val set: max |dE| {de:.2e} eV   max |F' - R F| {df:.2e} eV/A")
    total_pred = (np.array(e0) * unit + cnt_va @ offs)[:3]
    print("first val totals (eV): pred " + " ".join(f"{v:.3f}" for v in total_pred)
          + " | ref " + " ".join(f"{v:.3f}" for v in e_va[:3]))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
