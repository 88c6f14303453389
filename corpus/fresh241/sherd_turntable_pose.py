"""Turntable scans of a pot sherd: recover the scan orientation.

Each sample is a partial, jittered, shuffled scan (48 of 64 surface points)
of one single sherd shape, turned by an arbitrary yaw plus a small tilt.
A point-set encoder (shared per-point MLP, max + mean pooling) predicts a
6-number rotation code that is turned into a rotation matrix by
Gram-Schmidt; it is trained on the squared Frobenius distance to the true
rotation.  Reports are written in the Prometheus text exposition format.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

RNG = np.random.default_rng(11)
mx.random.seed(11)

N_TEMPLATE = 64
N_SCAN = 48
JITTER = 0.02
BATCH = 48
STEPS = 500
WARMUP = 100
PEAK_LR = 3e-3


def make_template():
    blobs = [((0.0, 0.0, 0.0), (0.55, 0.35, 0.12), 30),     # body
             ((0.5, 0.25, 0.15), (0.12, 0.10, 0.20), 18),   # handle stub
             ((-0.35, -0.2, 0.1), (0.10, 0.08, 0.08), 16)]  # rim chip
    pts = [RNG.normal(c, s, size=(n, 3)) for c, s, n in blobs]
    t = np.concatenate(pts).astype(np.float32)
    return t - t.mean(axis=0)


TEMPLATE = make_template()


def rotations(yaw, tx, ty):
    z, o = np.zeros_like(yaw), np.ones_like(yaw)
    rz = np.stack([np.cos(yaw), -np.sin(yaw), z, np.sin(yaw), np.cos(yaw), z, z, z, o], -1).reshape(-1, 3, 3)
    rx = np.stack([o, z, z, z, np.cos(tx), -np.sin(tx), z, np.sin(tx), np.cos(tx)], -1).reshape(-1, 3, 3)
    ry = np.stack([np.cos(ty), z, np.sin(ty), z, o, z, -np.sin(ty), z, np.cos(ty)], -1).reshape(-1, 3, 3)
    return (rz @ rx @ ry).astype(np.float32)


def make_batch(rng, n):
    r = rotations(rng.uniform(-np.pi, np.pi, n), rng.uniform(-0.3, 0.3, n), rng.uniform(-0.3, 0.3, n))
    keep = np.argsort(rng.random((n, N_TEMPLATE)), axis=1)[:, :N_SCAN]
    p = TEMPLATE[keep] + rng.normal(0, JITTER, size=(n, N_SCAN, 3)).astype(np.float32)
    return np.einsum("bpj,bij->bpi", p, r).astype(np.float32), r


def gram_schmidt(code):
    a, b = code[:, :3], code[:, 3:]
    e1 = a / mx.sqrt(mx.sum(a * a, axis=-1, keepdims=True) + 1e-8)
    b = b - mx.sum(e1 * b, axis=-1, keepdims=True) * e1
    e2 = b / mx.sqrt(mx.sum(b * b, axis=-1, keepdims=True) + 1e-8)
    e3 = mx.linalg.cross(e1, e2)
    return mx.stack([e1, e2, e3], axis=-1)   # columns


class SherdPose(nn.Module):
    def __init__(self):
        super().__init__()
        self.point_mlp = nn.Sequential(nn.Linear(3, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Sequential(nn.Linear(128, 64), nn.GELU(), nn.Linear(64, 6))

    def __call__(self, pts):
        f = self.point_mlp(pts)
        g = mx.concatenate([f.max(axis=1), f.mean(axis=1)], axis=-1)
        return gram_schmidt(self.head(g))


def loss_fn(model, x, r):
    return mx.mean(mx.sum((model(x) - r) ** 2, axis=(1, 2)))


def geodesic_deg(r_hat, r):
    m = np.einsum("bji,bjk->bik", r_hat, r)
    tr = np.clip((np.trace(m, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    return np.degrees(np.arccos(tr))


def chamfer(a, b):
    d = ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)
    return (d.min(2).mean(1) + d.min(1).mean(1)) / 2


def emit(name, help_text, kind, samples):
    print(f"# HELP {name} {help_text}")
    print(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lab = ",".join(f'{k}="{v}"' for k, v in labels.items())
        print(f"{name}{{{lab}}} {value}")


def main():
    val_x, val_r = make_batch(np.random.default_rng(99), 512)
    vx, vr = mx.array(val_x), mx.array(val_r)
    tmpl = np.broadcast_to(TEMPLATE, (512,) + TEMPLATE.shape)
    scans_canonical = np.einsum("bpi,bij->bpj", val_x, val_r)   # undo true rotation
    oracle_cd = float(chamfer(scans_canonical, tmpl).mean())
    ident_err = float(geodesic_deg(np.broadcast_to(np.eye(3, dtype=np.float32), val_r.shape), val_r).mean())

    model = SherdPose()
    mx.eval(model.parameters())
    sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK_LR, WARMUP),
                                  optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-5)], [WARMUP])
    opt = optim.Adam(learning_rate=sched)
    step_fn = nn.value_and_grad(model, loss_fn)

    emit("sherd_baseline_geodesic_degrees", "mean rotation error of reference predictors on the validation scans",
         "gauge", [({"predictor": "identity"}, f"{ident_err:.2f}"), ({"predictor": "true_pose"}, "0.00")])
    emit("sherd_baseline_chamfer", "chamfer distance of validation scans to the template after alignment",
         "gauge", [({"predictor": "true_pose"}, f"{oracle_cd:.5f}")])

    rng = np.random.default_rng(5)
    t0 = time.time()
    run = 0.0
    for step in range(1, STEPS + 1):
        x, r = make_batch(rng, BATCH)
        lr_used = float(sched(opt.step))
        loss, grads = step_fn(model, mx.array(x), mx.array(r))
        if step == 1:
            leaves = [g for _, g in tree_flatten(grads)]
            zero = sum(1 for g in leaves if float(mx.abs(g).max()) == 0.0)
            emit("sherd_grad_zero_leaves", "gradient leaves that are exactly zero at step 1", "gauge",
                 [({"leaves": str(len(leaves))}, str(zero))])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = 0.95 * run + 0.05 * loss.item()
        if step in (1, WARMUP) or step % 100 == 0:
            r_hat = np.array(model(vx))
            err = geodesic_deg(r_hat, val_r)
            aligned = np.einsum("bpi,bij->bpj", val_x, r_hat)
            cd = float(chamfer(aligned, tmpl).mean())
            within = float((err < 10.0).mean() * 100)
            smooth = run / (1 - 0.95 ** step)
            emit("sherd_train_frobenius_loss", "bias-corrected moving average of the training loss",
                 "gauge", [({"step": str(step), "lr": f"{lr_used:.2e}"}, f"{smooth:.5f}")])
            emit("sherd_val_geodesic_degrees", "validation rotation error", "gauge",
                 [({"step": str(step), "stat": "mean"}, f"{err.mean():.2f}"),
                  ({"step": str(step), "stat": "median"}, f"{np.median(err):.2f}")])
            emit("sherd_val_within_10deg_percent", "share of validation scans within 10 degrees", "gauge",
                 [({"step": str(step)}, f"{within:.1f}")])
            emit("sherd_val_chamfer", "chamfer to template after the predicted alignment", "gauge",
                 [({"step": str(step)}, f"{cd:.5f}")])
    emit("sherd_run_seconds", "wall time", "counter", [({"steps": str(STEPS)}, f"{time.time() - t0:.1f}")])


if __name__ == "__main__":
    main()
