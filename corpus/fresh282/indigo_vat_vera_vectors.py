"""Indigo dye house: shade depth (K/S units) of cotton after dipping, from six vat readings.

The base regressor was fitted on the old vat. The new vat behaves differently, and we only
have 400 logged dips from it, so instead of retraining we adapt with VeRA
(Kopiczko et al. 2024): one pair of frozen random projections shared by every layer,
plus two small trainable scaling vectors per layer (d on the rank, b on the outputs).
Only the vectors and the PRNG seed of the shared projections are written to disk.
"""
import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

NOISE_SD = 0.05
RANK = 16
SHARED_SEED = 7


def vat_readings(key, n):
    u = mx.random.uniform(shape=(n, 6), key=key)
    ph = 10.5 + 2.0 * u[:, 0]
    orp = -800.0 + 150.0 * u[:, 1]
    temp = 15.0 + 20.0 * u[:, 2]
    dips = 1.0 + 7.0 * u[:, 3]
    dwell = 1.0 + 9.0 * u[:, 4]
    gsm = 100.0 + 300.0 * u[:, 5]
    raw = mx.stack([ph, orp, temp, dips, dwell, gsm], axis=1)
    lo = mx.array([10.5, -800.0, 15.0, 1.0, 1.0, 100.0])
    span = mx.array([2.0, 150.0, 20.0, 7.0, 9.0, 300.0])
    return raw, 2.0 * (raw - lo) / span - 1.0


def shade_depth(raw, vat, key):
    ph, orp, temp, dips, dwell, gsm = [raw[:, i] for i in range(6)]
    if vat == "old":
        ph_opt, dip_gain, heat = 11.4, 0.55, 0.020
    else:
        ph_opt, dip_gain, heat = 11.9, 0.80, 0.035
    reduce = mx.sigmoid(-(orp + 720.0) / 25.0)
    uptake = dip_gain * mx.log1p(dips) * (1.0 - mx.exp(-dwell / 3.0))
    ph_term = mx.exp(-((ph - ph_opt) ** 2) / 0.5)
    y = 1.5 * reduce * ph_term * uptake * (1.0 + heat * (temp - 25.0)) - 0.002 * (gsm - 250.0)
    return y + NOISE_SD * mx.random.normal(y.shape, key=key)


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 64), nn.Linear(64, 64), nn.Linear(64, 1)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.silu(layer(x))
        return self.layers[-1](x)[:, 0]


class SharedProjections:
    """Frozen random matrices, regenerated from a seed (never trained, never saved)."""

    def __init__(self, seed, rank, max_in, max_out):
        ka, kb = mx.random.split(mx.random.key(seed))
        self.A = mx.random.uniform(-1.0, 1.0, (rank, max_in), key=ka) * math.sqrt(3.0 / max_in)
        self.B = mx.random.uniform(-1.0, 1.0, (max_out, rank), key=kb) * math.sqrt(3.0 / rank)


class VeRALinear(nn.Module):
    def __init__(self, base, shared, d_init=0.1):
        super().__init__()
        out_dims, in_dims = base.weight.shape
        self.base = base
        self.shared = shared  # plain Python object: not a parameter of this module
        self.in_dims, self.out_dims = in_dims, out_dims
        self.vera_d = mx.full((shared.A.shape[0],), d_init)
        self.vera_b = mx.zeros((out_dims,))

    def __call__(self, x):
        a = self.shared.A[:, : self.in_dims]
        b = self.shared.B[: self.out_dims]
        h = (x @ a.T) * self.vera_d
        return self.base(x) + (h @ b.T) * self.vera_b


def attach_vera(model, shared):
    model.freeze()
    model.layers = [VeRALinear(l, shared) for l in model.layers]
    return model


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


def checksum(params):
    return sum(float(mx.sum(mx.abs(v))) for _, v in tree_flatten(params))


def main():
    t0 = time.time()
    mx.random.seed(0)
    keys = mx.random.split(mx.random.key(2024), 8)
    raw_old, x_old = vat_readings(keys[0], 4000)
    y_old = shade_depth(raw_old, "old", keys[1])
    raw_new, x_new = vat_readings(keys[2], 400)
    y_new = shade_depth(raw_new, "new", keys[3])
    raw_test, x_test = vat_readings(keys[4], 2000)
    y_test_new = shade_depth(raw_test, "new", keys[5])
    y_test_old = shade_depth(raw_test, "old", keys[6])

    # ---- stage 1: the old vat, fitted quietly --------------------------------------
    base = Regressor()
    mx.eval(base.parameters())
    opt = optim.AdamW(learning_rate=optim.cosine_decay(3e-3, 1500, 1e-4), weight_decay=1e-4)
    step_fn = nn.value_and_grad(base, mse)
    for it in range(1500):
        idx = mx.random.randint(0, x_old.shape[0], (128,))
        loss, grads = step_fn(base, x_old[idx], y_old[idx])
        opt.update(base, grads)
        mx.eval(base.parameters(), opt.state)
    print(f"[base] old vat fitted: test MSE old={mse(base, x_test, y_test_old).item():.5f} "
          f"(noise floor {NOISE_SD**2:.5f}), {time.time()-t0:.1f}s")

    workdir = tempfile.mkdtemp()
    base_path = os.path.join(workdir, "base_old_vat.safetensors")
    mx.save_safetensors(base_path, dict(tree_flatten(base.parameters())))

    unadapted = mse(base, x_test, y_test_new).item()
    print(f"[base] on the NEW vat without adaptation: test MSE={unadapted:.5f}")

    # ---- stage 2: VeRA on the new vat ----------------------------------------------
    shared = SharedProjections(SHARED_SEED, RANK, max_in=64, max_out=64)
    model = attach_vera(base, shared)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"[vera] trainable {n_train} of {n_total} parameters "
          f"({100.0*n_train/n_total:.2f}%), shared rank {RANK}, seed {SHARED_SEED}")
    frozen_before = checksum({k: v for k, v in tree_flatten(model.parameters()) if "vera_" not in k})

    steps, warm = 600, 60
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-2, warm), optim.cosine_decay(2e-2, steps - warm, 5e-4)], [warm]
    )
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, mse)
    print(f"step    0 | lr {0.0:.2e} | train {mse(model, x_new, y_new).item():.5f} | "
          f"test {mse(model, x_test, y_test_new).item():.5f}")
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, x_new.shape[0], (64,))
        loss, grads = step_fn(model, x_new[idx], y_new[idx])
        lr_used = sched(step - 1).item()  # the rate this update uses
        opt.update(model, grads)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        if step in (1, 2) or step % 50 == 0:
            print(f"step {step:4d} | lr {lr_used:.2e} | batch {loss.item():.5f} | "
                  f"test {mse(model, x_test, y_test_new).item():.5f}")

    adapted = mse(model, x_test, y_test_new).item()
    frozen_after = checksum({k: v for k, v in tree_flatten(model.parameters()) if "vera_" not in k})
    print(f"[vera] frozen weights checksum before {frozen_before:.6f} after {frozen_after:.6f}")
    print(f"[vera] new vat test MSE: unadapted {unadapted:.5f} -> adapted {adapted:.5f} "
          f"(noise floor {NOISE_SD**2:.5f})")

    # ---- save only the vectors, rebuild from the seed, compare ----------------------
    vec_path = os.path.join(workdir, "vera_vectors.safetensors")
    vectors = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors(vec_path, vectors, metadata={"shared_seed": str(SHARED_SEED), "rank": str(RANK)})
    size_kb = os.path.getsize(vec_path) / 1024.0

    fresh = Regressor()
    fresh.load_weights(base_path)
    meta_seed = int(mx.load(vec_path, return_metadata=True)[1]["shared_seed"])
    fresh = attach_vera(fresh, SharedProjections(meta_seed, RANK, max_in=64, max_out=64))
    fresh.load_weights(list(mx.load(vec_path).items()), strict=False)
    reloaded = mse(fresh, x_test, y_test_new).item()
    gap = mx.max(mx.abs(fresh(x_test) - model(x_test))).item()
    print(f"[reload] {len(vectors)} vector tensors, {size_kb:.1f} KiB on disk; "
          f"test MSE {reloaded:.5f}, max |diff| vs live model {gap:.2e}")
    print(f"done in {time.time()-t0:.1f}s")


if __name__ == "__main__":
    main()
