"""Corner warp of FDM 3D prints, trained with a growing curriculum.

Warp (mm) of a printed part's corner is regressed from slicer / enclosure
settings plus the filament material.  The material table holds fixed
physical constants (glass transition, shrinkage, stiffness), so its
embedding is frozen on purpose; only the MLP learns.

Curriculum: stage 1 trains on the small parts only, stage 2 adds the
medium ones, stage 3 the large ones.  Larger parts warp more and more
noisily, so the training loss steps up at every stage start.
"""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("fdm.curriculum")

# material: PLA, PETG, ABS, ASA, Nylon -> (Tg C, linear shrink %, modulus GPa)
MATERIALS = np.array(
    [[60.0, 0.3, 3.5], [80.0, 0.5, 2.1], [105.0, 0.8, 2.3], [100.0, 0.7, 2.0], [70.0, 1.5, 1.6]],
    dtype=np.float32,
)


def make_prints(n, rng):
    bed = rng.uniform(40, 110, n)
    nozzle = rng.uniform(190, 270, n)
    footprint = rng.uniform(2, 22, n)          # cm, longest side
    height = rng.uniform(0.5, 12, n)          # cm
    enclosed = rng.integers(0, 2, n).astype(np.float64)
    ambient = rng.uniform(12, 32, n)
    fan = rng.uniform(0, 100, n)
    mat = rng.integers(0, 5, n)
    tg, shrink, modulus = MATERIALS[mat].T
    # made-up warp law: shrink * size, relieved when the bed is near Tg
    bed_gap = np.abs(bed - tg) / 30.0
    chamber = ambient + 15 * enclosed
    drive = shrink * (footprint / 10.0) ** 1.5 * (1 + 0.25 * height ** 0.5)
    drive *= (1 + 0.6 * np.tanh(bed_gap)) * (1 + 0.008 * fan) * np.exp(-(chamber - 20) / 40.0)
    drive *= 1 + 0.05 * (modulus - 2.0) + 0.002 * (nozzle - 230)
    noise = rng.normal(0, 0.04 + 0.03 * footprint / 10.0, n)
    warp = np.clip(drive * 0.35 + noise, 0.0, None)
    feats = np.stack([bed, nozzle, footprint, height, enclosed, ambient, fan], 1)
    return feats.astype(np.float32), mat.astype(np.int32), warp.astype(np.float32)


class WarpNet(nn.Module):
    def __init__(self, n_feat=7, hidden=128):
        super().__init__()
        self.material = nn.Embedding(5, 3)
        self.l1 = nn.Linear(n_feat + 3, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x, m):
        h = mx.concatenate([x, self.material(m)], axis=-1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def main():
    rng = np.random.default_rng(7)
    x_tr, m_tr, y_tr = make_prints(9000, rng)
    x_va, m_va, y_va = make_prints(2000, rng)
    mu, sd = x_tr.mean(0), x_tr.std(0)
    y_mu, y_sd = float(y_tr.mean()), float(y_tr.std())
    x_tr = (x_tr - mu) / sd
    x_va = (x_va - mu) / sd
    z_tr = (y_tr - y_mu) / y_sd

    model = WarpNet()
    mat_z = (MATERIALS - MATERIALS.mean(0)) / MATERIALS.std(0)
    model.material.weight = mx.array(mat_z)
    model.material.freeze()
    frozen_before = np.array(model.material.weight)
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    log.info("data: %d train prints, %d val prints, warp mean %.3f mm sd %.3f mm; %d trainable params",
             len(y_tr), len(y_va), y_mu, y_sd, n_train)

    def loss_fn(mdl, x, m, z):
        return nn.losses.mse_loss(mdl(x, m), z)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    opt = optim.Adam(learning_rate=1.5e-3)

    xv, mv = mx.array(x_va), mx.array(m_va)

    def val_mae_mm():
        pred = np.array(model(xv, mv)) * y_sd + y_mu
        return float(np.mean(np.abs(pred - y_va)))

    # gradient check on one batch
    idx = mx.array(np.arange(128))
    _, g = loss_and_grad(model, mx.array(x_tr)[idx], mx.array(m_tr)[idx], mx.array(z_tr)[idx])
    flat = tree_flatten(g)
    zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
    log.info("grad check: %d trainable leaves, zero-gradient leaves: %s", len(flat), zero or "none")
    log.info("untrained: val mae %.3f mm (predict-the-mean baseline %.3f mm)",
             val_mae_mm(), float(np.mean(np.abs(y_va - y_mu))))

    # curriculum by part size
    cut1, cut2 = np.quantile(x_tr[:, 2], [1 / 3, 2 / 3])
    stages = [x_tr[:, 2] <= cut1, x_tr[:, 2] <= cut2, np.ones(len(x_tr), bool)]
    xa, ma, za = mx.array(x_tr), mx.array(m_tr), mx.array(z_tr)
    batch = 64
    t0 = time.time()
    for s, keep in enumerate(stages, 1):
        pool = np.flatnonzero(keep)
        for ep in range(1, 7):
            perm = rng.permutation(pool)
            tot, cnt = 0.0, 0
            for i in range(0, len(perm) - batch + 1, batch):
                b = mx.array(perm[i:i + batch])
                loss, g = loss_and_grad(model, xa[b], ma[b], za[b])
                opt.update(model, g)
                mx.eval(model.parameters(), opt.state, loss)
                tot += loss.item() * batch
                cnt += batch
            log.info("stage %d/3 epoch %d: parts in play %d | train mse %.4f (z units) | val mae %.3f mm | %.1fs",
                     s, ep, len(pool), tot / cnt, val_mae_mm(), time.time() - t0)

    drift = float(np.abs(np.array(model.material.weight) - frozen_before).max())
    log.info("material table drift (frozen on purpose): %.1f", drift)
    log.info("done: final val mae %.3f mm after %d optimizer steps", val_mae_mm(), int(opt.step.item()))


if __name__ == "__main__":
    main()
