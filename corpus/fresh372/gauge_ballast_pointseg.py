"""Per-point labelling of synthetic railway-track LiDAR patches.

Each patch is 96 shuffled returns from a 2 m x 1.2 m strip: ballast bed,
timber sleepers across the track, and two steel rails on top. A PointNet-style
segmenter (shared point MLP, max-pooled global code concatenated back onto every
point) labels each return as ballast / sleeper / rail.

Run: warm-up from lr 0, checkpoint at step 120, rebuild model+optimizer from the
checkpoint, continue to step 240.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_PTS = 96
BATCH = 16
CLASSES = ["ballast", "sleeper", "rail"]
TOTAL_STEPS = 240
CKPT_STEP = 120
WARMUP = 24
LOG_EVERY = 20


def make_patches(rng, n):
    """Return points (n, N_PTS, 3) and labels (n, N_PTS)."""
    pts = np.zeros((n, N_PTS, 3), np.float32)
    lab = np.zeros((n, N_PTS), np.int32)
    for i in range(n):
        gauge = rng.uniform(0.70, 0.78)          # half distance between rails (m)
        pitch = rng.uniform(0.55, 0.68)          # sleeper spacing (m)
        phase = rng.uniform(0, pitch)
        tilt = rng.normal(0, 0.02, size=2)       # scanner not level
        x = rng.uniform(-1.0, 1.0, N_PTS)        # along track
        y = rng.uniform(-1.2, 1.2, N_PTS)        # across track
        z = 0.04 * rng.standard_normal(N_PTS)    # rough ballast surface
        cls = np.zeros(N_PTS, np.int32)
        on_sleeper = (np.abs(((x - phase) % pitch) - pitch / 2) > pitch / 2 - 0.13) & (np.abs(y) < 1.25)
        z = np.where(on_sleeper, 0.12 + 0.01 * rng.standard_normal(N_PTS), z)
        cls[on_sleeper] = 1
        on_rail = np.abs(np.abs(y) - gauge) < 0.05
        z = np.where(on_rail, 0.30 + 0.005 * rng.standard_normal(N_PTS), z)
        cls[on_rail] = 2
        z = z + tilt[0] * x + tilt[1] * y + rng.normal(0, 0.03)   # patch offset
        p = np.stack([x, y, z], -1)
        perm = rng.permutation(N_PTS)
        pts[i], lab[i] = p[perm], cls[perm]
    return pts, lab


class PointSeg(nn.Module):
    def __init__(self, width=48, code=96, n_cls=3):
        super().__init__()
        self.local = nn.Sequential(nn.Linear(3, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU())
        self.to_code = nn.Sequential(nn.Linear(width, code), nn.ReLU())
        self.head = nn.Sequential(
            nn.Linear(width + code, 64), nn.ReLU(), nn.Dropout(0.1),
            nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, n_cls))

    def __call__(self, pts):
        centred = pts - pts.mean(axis=1, keepdims=True)
        f = self.local(centred)                         # (B, N, width)
        g = self.to_code(f).max(axis=1, keepdims=True)  # (B, 1, code)
        g = mx.broadcast_to(g, f.shape[:2] + (g.shape[-1],))
        return self.head(mx.concatenate([f, g], axis=-1))


def class_weights(labels):
    counts = np.bincount(labels.ravel(), minlength=3).astype(np.float64)
    w = counts.sum() / (3 * counts)
    return mx.array(w.astype(np.float32))


def loss_fn(model, pts, lab, w):
    logits = model(pts)
    ce = nn.losses.cross_entropy(logits, lab, reduction="none")
    return (ce * w[lab]).sum() / w[lab].sum()


def miou(pred, lab):
    ious = []
    for c in range(3):
        inter = np.sum((pred == c) & (lab == c))
        union = np.sum((pred == c) | (lab == c))
        ious.append(inter / max(union, 1))
    return float(np.mean(ious)), ious


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, WARMUP),
         optim.cosine_decay(3e-3, TOTAL_STEPS - WARMUP, 1e-4)], [WARMUP])
    return optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def train_steps(model, opt, start, stop, rng, w):
    step_fn = nn.value_and_grad(model, loss_fn)
    run = []
    for step in range(start, stop):
        pts, lab = make_patches(rng, BATCH)
        loss, grads = step_fn(model, mx.array(pts), mx.array(lab), w)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        if (step + 1) % LOG_EVERY == 0:
            lr = opt.learning_rate.item()
            print(f"step {step + 1:4d}  loss {np.mean(run):.4f}  lr {lr:.2e}")
            run = []


def evaluate(model, pts, lab):
    model.eval()
    pred = np.array(mx.argmax(model(mx.array(pts)), axis=-1))
    model.train()
    return miou(pred, lab), float(np.mean(pred == lab))


def main():
    t0 = time.time()
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    val_pts, val_lab = make_patches(np.random.default_rng(123), 256)
    w = class_weights(make_patches(np.random.default_rng(5), 200)[1])
    print("class weights", [round(v, 3) for v in w.tolist()])

    # baselines on the validation patches
    maj = np.zeros_like(val_lab)
    (maj_miou, _), maj_acc = miou(maj, val_lab), float(np.mean(maj == val_lab))
    zrel = val_pts[..., 2] - np.median(val_pts[..., 2], axis=1, keepdims=True)
    thr = np.where(zrel > 0.22, 2, np.where(zrel > 0.07, 1, 0))
    (thr_miou, _), thr_acc = miou(thr, val_lab), float(np.mean(thr == val_lab))
    print(f"baseline majority   miou {maj_miou:.3f}  acc {maj_acc:.3f}")
    print(f"baseline height-cut miou {thr_miou:.3f}  acc {thr_acc:.3f}")

    model = PointSeg()
    opt = make_optimizer()
    train_steps(model, opt, 0, CKPT_STEP, rng, w)
    (m1, _), a1 = evaluate(model, val_pts, val_lab)
    print(f"checkpoint step {CKPT_STEP}: val miou {m1:.3f}  acc {a1:.3f}")

    with tempfile.TemporaryDirectory() as d:
        wpath = os.path.join(d, "seg.safetensors")
        opath = os.path.join(d, "opt.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        del model, opt

        model = PointSeg()
        model.load_weights(wpath)
        opt = make_optimizer()
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        mx.eval(model.parameters(), opt.state)
        print(f"resumed at step {opt.step.item()}")

    train_steps(model, opt, CKPT_STEP, TOTAL_STEPS, rng, w)
    (m2, ious), a2 = evaluate(model, val_pts, val_lab)
    print(f"final val miou {m2:.3f}  acc {a2:.3f}  per-class " +
          " ".join(f"{c}={v:.3f}" for c, v in zip(CLASSES, ious)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
