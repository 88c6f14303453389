"""Online dictionary learning (sparse coding) on synthetic signals.

Every signal is a noisy sum of 3 atoms out of a hidden 32-atom dictionary in
R^20.  For each minibatch the sparse codes are inferred with ISTA (no
gradient through the inference: the codes are treated as fixed), then the
dictionary takes one projected SGD-with-momentum step on the reconstruction
error, and every atom is renormalised to unit length (the projection).

The learning rate warms up linearly from exactly 0, so the first update does
not move the dictionary at all; that is on purpose.

Progress: one JSON object per report on stdout.
"""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

N_DIM, N_ATOMS, K_ACTIVE = 20, 32, 3
LAM = 0.05
ISTA_STEPS = 40
BATCH = 128
STEPS = 1500
PEAK_LR = 0.5
WARMUP = 150
MOMENTUM = 0.9
REPORT_EVERY = 150

rng = np.random.default_rng(11)


def unit_columns(a):
    return a / np.linalg.norm(a, axis=0, keepdims=True)


TRUE_D = unit_columns(rng.standard_normal((N_DIM, N_ATOMS))).astype(np.float32)


def sample_signals(n):
    codes = np.zeros((n, N_ATOMS), np.float32)
    for i in range(n):
        idx = rng.choice(N_ATOMS, K_ACTIVE, replace=False)
        codes[i, idx] = rng.choice([-1.0, 1.0], K_ACTIVE) * rng.uniform(0.5, 1.5, K_ACTIVE)
    x = codes @ TRUE_D.T + 0.01 * rng.standard_normal((n, N_DIM)).astype(np.float32)
    return x.astype(np.float32)


class Dictionary(nn.Module):
    def __init__(self):
        super().__init__()
        self.atoms = mx.array(unit_columns(rng.standard_normal((N_DIM, N_ATOMS))).astype(np.float32))

    def lipschitz(self):
        # largest eigenvalue of D^T D by power iteration
        g = self.atoms.T @ self.atoms
        v = mx.ones((N_ATOMS,)) / np.sqrt(N_ATOMS)
        for _ in range(30):
            v = g @ v
            v = v / mx.linalg.norm(v)
        return (v @ (g @ v)).item()

    def encode(self, x):
        """ISTA: argmin_z 0.5||x - z D^T||^2 + LAM ||z||_1 (approximately)."""
        d = mx.stop_gradient(self.atoms)
        step = 1.0 / self.lipschitz()
        z = mx.zeros((x.shape[0], N_ATOMS))
        for _ in range(ISTA_STEPS):
            resid = z @ d.T - x
            u = z - step * (resid @ d)
            z = mx.sign(u) * mx.maximum(mx.abs(u) - step * LAM, 0.0)
        mx.eval(z)
        return z

    def __call__(self, z):
        return z @ self.atoms.T


def objective(model, x, z):
    recon = model(z)
    return 0.5 * mx.mean(mx.sum((x - recon) ** 2, axis=1)) + LAM * mx.mean(mx.sum(mx.abs(z), axis=1))


def recovered_share(learned):
    cos = np.abs(TRUE_D.T @ learned)  # both unit-column
    return float(np.mean(cos.max(axis=1) > 0.95))


def lr_at(step):
    # step counts from 0; lr is 0 at step 0
    return PEAK_LR * min(1.0, step / WARMUP)


def main():
    model = Dictionary()
    grad_fn = nn.value_and_grad(model, objective)
    velocity = tree_map(mx.zeros_like, model.trainable_parameters())

    x_val = mx.array(sample_signals(1024))
    t0 = time.perf_counter()
    for step in range(STEPS):
        x = mx.array(sample_signals(BATCH))
        z = model.encode(x)
        loss, grads = grad_fn(model, x, z)

        if step == 0:
            norms = {k: float(mx.abs(g).max()) for k, g in tree_flatten(grads)}
            assert all(v > 0 for v in norms.values()), norms
            print(json.dumps({"event": "first_step_grad_maxabs", **norms}))

        lr = lr_at(step)
        velocity = tree_map(lambda v, g: MOMENTUM * v + g, velocity, grads)
        new_params = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity)
        model.update(new_params)
        # projection: every atom back onto the unit sphere
        model.atoms = model.atoms / mx.linalg.norm(model.atoms, axis=0, keepdims=True)
        mx.eval(model.parameters(), velocity)

        if (step + 1) % REPORT_EVERY == 0 or step == 0:
            zv = model.encode(x_val)
            val_obj = objective(model, x_val, zv).item()
            active = float(mx.mean(mx.sum(mx.abs(zv) > 1e-6, axis=1)).item())
            print(json.dumps({
                "step": step + 1,
                "lr": round(lr, 4),
                "train_objective": round(loss.item(), 5),
                "val_objective": round(val_obj, 5),
                "avg_active_atoms": round(active, 2),
                "atoms_recovered_pct": round(100 * recovered_share(np.array(model.atoms)), 1),
                "elapsed_s": round(time.perf_counter() - t0, 1),
            }))

    print(json.dumps({"event": "done", "true_atoms": N_ATOMS,
                      "recovered_pct": round(100 * recovered_share(np.array(model.atoms)), 1)}))


if __name__ == "__main__":
    main()
