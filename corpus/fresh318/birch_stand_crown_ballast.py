"""Terrestrial-LiDAR crown scans: predict the offset (metres) of a crown's
wet-mass centre from its geometric centre, from unlevelled scans (random
scanner orientation, points shuffled) carrying a per-point return intensity.
Rotation-equivariant point-set model (invariant per-point MLP -> weights on
relative positions, plus an invariant log-variance head), heteroscedastic
Gaussian NLL (drops below zero once the fit is tight), linear warmup from
lr = 0, cosine decay, and a checkpoint/resume half-way (weights + optimizer
state reloaded into fresh objects)."""

import math
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)

N_PTS = 40
N_TRAIN = 6000
N_VAL = 1000
BATCH = 64
TOTAL = 900
WARMUP = 100
RESUME_AT = 450
PEAK_LR = 3e-3


def rotations(n):
    q = mx.random.normal((n, 4))
    q = q / mx.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    return mx.stack([mx.stack(r, axis=-1) for r in rows], axis=-2)


def make_crowns(n):
    """Ellipsoidal crowns; wet foliage returns low intensity and is heavier.
    Target: mass-weighted centre minus geometric centre, in the scan frame."""
    axes = mx.random.uniform(1.0, 3.0, (n, 1, 3))
    u = mx.random.normal((n, N_PTS, 3))
    u = u / mx.linalg.norm(u, axis=-1, keepdims=True)
    rad = mx.random.uniform(0.0, 1.0, (n, N_PTS, 1)) ** (1 / 3)
    local = u * rad * axes
    wet_dir = mx.random.normal((n, 1, 3))
    wet_dir = wet_dir / mx.linalg.norm(wet_dir, axis=-1, keepdims=True)
    wetness = mx.sigmoid(2.5 * (local * wet_dir).sum(-1, keepdims=True)
                         + 0.8 * mx.random.normal((n, N_PTS, 1)))
    intensity = 1.0 - 0.7 * wetness + 0.05 * mx.random.normal(wetness.shape)
    mass = 1.0 + 3.0 * wetness
    rel = local - local.mean(axis=1, keepdims=True)
    target = (mass * rel).sum(axis=1) / mass.sum(axis=1)
    R = rotations(n)
    pts = mx.einsum("bij,bnj->bni", R, local) + mx.random.normal((n, 1, 3)) * 8.0
    target = mx.einsum("bij,bj->bi", R, target)
    return pts, intensity, target


class CrownNet(nn.Module):
    def __init__(self, h=48):
        super().__init__()
        self.point = nn.Sequential(nn.Linear(3, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.weight = nn.Linear(h, 1)
        self.logvar = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 1))

    def __call__(self, pts, inten):
        rel = pts - pts.mean(axis=1, keepdims=True)
        r = mx.linalg.norm(rel, axis=-1, keepdims=True)
        feats = mx.concatenate([inten, r, r * r / 4.0], axis=-1)       # invariants
        h = self.point(feats)
        vec = (self.weight(h) * rel).mean(axis=1)                      # (B,3) equivariant
        logvar = self.logvar(h.mean(axis=1))                           # (B,1) invariant
        return vec, logvar


def nll(model, pts, inten, y):
    vec, logvar = model(pts, inten)
    err2 = ((vec - y) ** 2).sum(-1, keepdims=True)
    return (0.5 * (err2 * mx.exp(-logvar) + 3.0 * logvar)).mean()


def lr_at(step):
    if step < WARMUP:
        return PEAK_LR * step / WARMUP                                 # exactly 0 at step 0
    p = (step - WARMUP) / (TOTAL - WARMUP)
    return PEAK_LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * p)))


def evaluate(model, pts, inten, y):
    vec, logvar = model(pts, inten)
    rmse = mx.sqrt(((vec - y) ** 2).sum(-1).mean()).item()
    cos = (vec * y).sum(-1) / (mx.linalg.norm(vec, axis=-1) * mx.linalg.norm(y, axis=-1) + 1e-9)
    ang = mx.degrees(mx.arccos(mx.clip(cos, -1.0, 1.0))).mean().item()
    return nll(model, pts, inten, y).item(), rmse, ang, mx.exp(0.5 * logvar).mean().item()


def run_steps(model, opt, start, stop, data):
    x_tr, i_tr, y_tr, x_va, i_va, y_va = data
    step_fn = nn.value_and_grad(model, nll)
    acc, cnt = 0.0, 0
    for step in range(start, stop):
        opt.learning_rate = lr_at(step)
        idx = mx.random.randint(0, N_TRAIN, (BATCH,))
        loss, grads = step_fn(model, x_tr[idx], i_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item()
        cnt += 1
        if (step + 1) % 75 == 0:
            v_nll, rmse, ang, sd = evaluate(model, x_va, i_va, y_va)
            print(f"step {step + 1:4d} lr {lr_at(step):.2e} train nll {acc / cnt:+.3f} "
                  f"val nll {v_nll:+.3f} rmse {rmse:.4f} m angle {ang:5.1f} deg pred sd {sd:.4f}")
            acc, cnt = 0.0, 0


def main():
    t0 = time.time()
    x_tr, i_tr, y_tr = make_crowns(N_TRAIN)
    x_va, i_va, y_va = make_crowns(N_VAL)
    mx.eval(x_tr, i_tr, y_tr, x_va, i_va, y_va)
    data = (x_tr, i_tr, y_tr, x_va, i_va, y_va)
    base_rmse = mx.sqrt((y_va ** 2).sum(-1).mean()).item()
    print(f"crowns train {N_TRAIN} val {N_VAL}, {N_PTS} returns each; scanner frames random")
    print(f"baselines: zero offset rmse {base_rmse:.4f} m, direction guess 90.0 deg")

    model = CrownNet()
    opt = optim.Adam(learning_rate=0.0)
    run_steps(model, opt, 0, RESUME_AT, data)

    ckpt = tempfile.mkdtemp()
    model.save_weights(os.path.join(ckpt, "model.safetensors"))
    mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
    before = evaluate(model, x_va, i_va, y_va)
    print(f"checkpoint written at step {RESUME_AT}")

    model = CrownNet()
    model.load_weights(os.path.join(ckpt, "model.safetensors"))
    opt = optim.Adam(learning_rate=0.0)
    opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
    after = evaluate(model, x_va, i_va, y_va)
    print(f"resumed at step {RESUME_AT}: val nll {before[0]:+.3f} -> {after[0]:+.3f} after reload, "
          f"adam step count {opt.state['step'].item()}")
    run_steps(model, opt, RESUME_AT, TOTAL, data)

    v_nll, rmse, ang, sd = evaluate(model, x_va, i_va, y_va)
    R = rotations(N_VAL)
    v0, _ = model(x_va, i_va)
    v1, _ = model(mx.einsum("bij,bnj->bni", R, x_va), i_va)
    eq = mx.abs(v1 - mx.einsum("bij,bj->bi", R, v0)).max().item()
    print(f"final val nll {v_nll:+.3f}  rmse {rmse:.4f} m (baseline {base_rmse:.4f})  "
          f"angle {ang:.1f} deg (baseline 90.0)")
    print(f"equivariance max abs err under rotation {eq:.2e}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
