"""Molecular dipole moments from learned atomic partial charges, with a checkpoint/resume.

Synthetic 7-atom molecules of three element kinds. Reference partial charges come from a
made-up electronegativity-equalisation rule (charge flows toward the more electronegative
neighbour, damped with distance), reference dipoles are sum_i q_i r_i in e*A converted to
Debye, plus measurement noise.

The model predicts one scalar charge per atom from rotation-invariant radial features,
shifts the charges so each molecule is exactly neutral, and forms the dipole vector
sum_i q_i r_i, so the prediction rotates with the molecule. Only dipoles (Debye) are
supervised; the charges are never shown.

Stage A: linear warm-up of the learning rate from exactly 0, then cosine decay; the
weights and the Adam state are written to an .npz checkpoint. Stage B rebuilds the model
and optimizer from scratch, restores both from the checkpoint and keeps training at a
lower constant rate. Reports are sparse (every 60 steps) on purpose.
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

EA_TO_DEBYE = 4.80320
N_ATOMS = 7
CHI = np.array([2.5, 3.4, 2.2], np.float32)  # made-up electronegativity per kind (C, O, H)
MU = np.linspace(0.8, 4.0, 12).astype(np.float32)


def make_set(n, rng):
    z = rng.integers(0, 3, size=(n, N_ATOMS))
    pos = np.zeros((n, N_ATOMS, 3), np.float32)
    for b in range(n):
        while True:
            p = rng.normal(0, 1.1, (N_ATOMS, 3))
            d = np.linalg.norm(p[:, None] - p[None], axis=-1) + 9 * np.eye(N_ATOMS)
            if d.min() > 0.9:
                break
        pos[b] = p - p.mean(0)
    d = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1)
    w = np.exp(-(d - 1.0) ** 2 / 0.8) * (1 - np.eye(N_ATOMS))
    chi = CHI[z]
    q = 0.18 * np.sum(w * (chi[:, :, None] - chi[:, None, :]), axis=2)  # flows to higher chi
    q = q - q.mean(1, keepdims=True)
    dip = np.einsum("bn,bnk->bk", q, pos) * EA_TO_DEBYE
    dip = dip + rng.normal(0, 0.05, dip.shape)
    return mx.array(pos), mx.array(z.astype(np.int32)), mx.array(dip.astype(np.float32))


def features(pos, z):
    diff = pos[:, :, None, :] - pos[:, None, :, :]
    r = mx.sqrt(mx.sum(diff * diff, -1) + 1e-12)
    mask = 1.0 - mx.eye(N_ATOMS)[None]
    g = mx.exp(-6.0 * (r[..., None] - mx.array(MU)) ** 2) * mask[..., None]
    per_kind = [mx.sum(g * (z == k).astype(mx.float32)[:, None, :, None], axis=2) for k in range(3)]
    own = mx.eye(3)[z]
    return mx.concatenate(per_kind + [own], axis=-1)


class ChargeNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.GELU(), nn.Linear(width, width), nn.GELU())
        self.head = nn.Linear(width, 1)

    def __call__(self, pos, z):
        q = self.head(self.trunk(features(pos, z)))[..., 0]
        q = q - mx.mean(q, axis=1, keepdims=True)  # exact neutrality
        return mx.sum(q[..., None] * pos, axis=1) * EA_TO_DEBYE, q


def loss_fn(model, pos, z, dip):
    pred, _ = model(pos, z)
    return mx.mean(mx.sum((pred - dip) ** 2, axis=-1))


def rmse(model, pos, z, dip):
    pred, _ = model(pos, z)
    return math.sqrt(mx.mean(mx.sum((pred - dip) ** 2, axis=-1)).item())


def run_steps(model, opt, data, start, stop, batch, rng, val):
    pos, z, dip = data
    step_fn = nn.value_and_grad(model, loss_fn)
    n = pos.shape[0]
    for step in range(start, stop):
        idx = mx.array(rng.integers(0, n, batch))
        lr_now = opt.learning_rate.item()
        loss, grads = step_fn(model, pos[idx], z[idx], dip[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 60 == 0 or step == stop - 1:
            print(f"  step {step:4d}  lr {lr_now:.2e}  batch mse {loss.item():7.4f} D^2  val rmse {rmse(model, *val):.4f} D")


def main():
    t0 = time.time()
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    train = make_set(3000, rng)
    val = make_set(500, rng)
    d_in = 3 * len(MU) + 3
    norms = np.linalg.norm(np.array(val[2]), axis=-1)
    print(f"molecules: train {train[0].shape[0]} val {val[0].shape[0]}  |dipole| val mean {norms.mean():.3f} D")
    print(f"baseline 'no dipole' val rmse {math.sqrt((norms ** 2).mean()):.4f} D")

    model = ChargeNet(d_in)
    print(f"untrained val rmse {rmse(model, *val):.4f} D")

    warm, total_a = 80, 420
    sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                                  optim.cosine_decay(2e-3, total_a - warm, 2e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    print("stage A: warm-up from 0, cosine decay")
    run_steps(model, opt, train, 0, total_a, 64, np.random.default_rng(0), val)

    ckpt = os.path.join(tempfile.mkdtemp(), "charges_stageA.npz")
    flat = {"w." + k: v for k, v in tree_flatten(model.parameters())}
    flat.update({"o." + k: v for k, v in tree_flatten(opt.state) if isinstance(v, mx.array)})
    mx.savez(ckpt, **flat)
    before = rmse(model, *val)
    print(f"checkpoint written ({len(flat)} arrays), val rmse at save {before:.4f} D")
    del model, opt

    model = ChargeNet(d_in)
    opt = optim.AdamW(learning_rate=2e-4, weight_decay=1e-4)
    saved = mx.load(ckpt)
    model.update(tree_unflatten([(k[2:], v) for k, v in saved.items() if k.startswith("w.")]))
    opt.init(model.trainable_parameters())
    state = tree_unflatten([(k[2:], v) for k, v in saved.items() if k.startswith("o.")])
    state["learning_rate"] = mx.array(2e-4)
    opt.state = state
    after = rmse(model, *val)
    print(f"stage B: resumed, val rmse after reload {after:.4f} D (step counter {int(opt.state['step'].item())})")
    run_steps(model, opt, train, total_a, total_a + 300, 64, np.random.default_rng(1), val)

    # the dipole must rotate with the molecule
    qr, _ = np.linalg.qr(np.random.default_rng(5).normal(size=(3, 3)))
    rot = mx.array(qr.astype(np.float32))
    p0, q0 = model(val[0], val[1])
    p1, q1 = model(val[0] @ rot.T, val[1])
    print(f"rotation check: max |mu(Rx) - R mu(x)| {mx.max(mx.abs(p1 - p0 @ rot.T)).item():.2e} D, "
          f"max |dq| {mx.max(mx.abs(q1 - q0)).item():.2e} e")
    print(f"final val rmse {rmse(model, *val):.4f} D  total charge max |sum q| {mx.max(mx.abs(mx.sum(q0, 1))).item():.1e} e")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
