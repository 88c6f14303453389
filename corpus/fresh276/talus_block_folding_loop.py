# Drone scans of loose talus blocks below a quarry face: each scan is 36 surface
# points of one block (superellipsoid-like shape, random size/roundness/yaw, sensor
# jitter). A folding autoencoder squeezes each scan into an 8-number code and
# re-draws the block; quality is the symmetric Chamfer distance.
# Training is split in two sessions: session 1 writes a checkpoint, session 2
# rebuilds everything from disk and carries on.
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

N_PTS = 36
CODE = 8
BATCH = 16
TOTAL_STEPS = 450
SPLIT_AT = 225
WARM = 40
PEAK_LR = 3e-3
EVAL_EVERY = 75
JITTER = 0.02

rng = np.random.default_rng(7)


def spow(x, e):
    return np.sign(x) * np.abs(x) ** e


def sample_blocks(params, gen):
    # params: (B, 5) = axes a, b, c, roundness exponent, yaw
    B = params.shape[0]
    u = gen.uniform(-np.pi, np.pi, size=(B, N_PTS))
    v = gen.uniform(-np.pi / 2, np.pi / 2, size=(B, N_PTS))
    a, b, c, e, yaw = [params[:, i:i + 1] for i in range(5)]
    x = a * spow(np.cos(v), e) * spow(np.cos(u), e)
    y = b * spow(np.cos(v), e) * spow(np.sin(u), e)
    z = c * spow(np.sin(v), e)
    xr = np.cos(yaw) * x - np.sin(yaw) * y
    yr = np.sin(yaw) * x + np.cos(yaw) * y
    pts = np.stack([xr, yr, z], axis=-1)
    pts = pts + gen.normal(0.0, JITTER, size=pts.shape)
    return pts.astype(np.float32)


def draw_params(B, gen):
    axes = gen.uniform(0.45, 1.2, size=(B, 3))
    e = gen.uniform(0.35, 1.0, size=(B, 1))
    yaw = gen.uniform(0, np.pi, size=(B, 1))
    return np.concatenate([axes, e, yaw], axis=1)


def chamfer(p, q):
    d = mx.sum((p[:, :, None, :] - q[:, None, :, :]) ** 2, axis=-1)
    return mx.mean(mx.min(d, axis=2), axis=1) + mx.mean(mx.min(d, axis=1), axis=1)


class FoldingAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.point_mlp = nn.Sequential(nn.Linear(3, 48), nn.ReLU(), nn.Linear(48, 96), nn.ReLU())
        self.to_code = nn.Sequential(nn.Linear(96, 48), nn.ReLU(), nn.Linear(48, CODE))
        self.fold1 = nn.Sequential(nn.Linear(CODE + 2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
        self.fold2 = nn.Sequential(nn.Linear(CODE + 3, 64), nn.ReLU(), nn.Linear(64, 3))
        g = np.linspace(-1.0, 1.0, 6, dtype=np.float32)
        gx, gy = np.meshgrid(g, g)
        self._grid = mx.array(np.stack([gx.ravel(), gy.ravel()], axis=-1))

    def encode(self, pts):
        h = self.point_mlp(pts)
        return self.to_code(mx.max(h, axis=1))

    def decode(self, code):
        B = code.shape[0]
        grid = mx.broadcast_to(self._grid[None], (B, N_PTS, 2))
        c = mx.broadcast_to(code[:, None, :], (B, N_PTS, CODE))
        first = self.fold1(mx.concatenate([c, grid], axis=-1))
        return first + self.fold2(mx.concatenate([c, first], axis=-1))

    def __call__(self, pts):
        return self.decode(self.encode(pts))


def loss_fn(model, pts):
    return mx.mean(chamfer(model(pts), pts))


schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, PEAK_LR, WARM),
     optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARM, 1e-4)],
    [WARM],
)


def build():
    m = FoldingAE()
    o = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
    return m, o


# held-out evaluation scans and two reference numbers
eval_gen = np.random.default_rng(1234)
eval_params = draw_params(96, eval_gen)
eval_pts = mx.array(sample_blocks(eval_params, eval_gen))
rescan = mx.array(sample_blocks(eval_params, eval_gen))
floor = mx.mean(chamfer(rescan, eval_pts)).item()
template_params = np.tile(np.array([[0.82, 0.82, 0.82, 0.7, 0.0]]), (96, 1))
template = mx.array(sample_blocks(template_params, eval_gen))
template_cd = mx.mean(chamfer(template, eval_pts)).item()
print(f"reference: second scan of the same blocks CD={floor:.4f} | one average-block template CD={template_cd:.4f}")


def run_session(model, opt, start, stop, gen):
    step_fn = nn.value_and_grad(model, loss_fn)
    running = []
    for step in range(start, stop):
        pts = mx.array(sample_blocks(draw_params(BATCH, gen), gen))
        loss, grads = step_fn(model, pts)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        if (step + 1) % EVAL_EVERY == 0:
            ev = mx.mean(chamfer(model(eval_pts), eval_pts)).item()
            lr = opt.learning_rate.item()
            print(f"step {step + 1:5d} | lr {lr:.2e} | train CD {np.mean(running):.4f} | eval CD {ev:.4f}")
            running = []


mx.random.seed(0)
t0 = time.time()
model, opt = build()
first = loss_fn(model, eval_pts).item()
print(f"step     0 | lr {schedule(mx.array(0)).item():.2e} | eval CD {first:.4f} (untrained)")
train_gen = np.random.default_rng(99)
run_session(model, opt, 0, SPLIT_AT, train_gen)

ckpt_dir = tempfile.mkdtemp()
wpath = os.path.join(ckpt_dir, "weights.safetensors")
opath = os.path.join(ckpt_dir, "optim.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before = mx.mean(chamfer(model(eval_pts), eval_pts)).item()
print(f"checkpoint written after step {SPLIT_AT} (eval CD {before:.4f}); session 1 closed")
del model, opt

model, opt = build()
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(opath).items()))
after = mx.mean(chamfer(model(eval_pts), eval_pts)).item()
print(f"session 2 resumed at optimizer step {int(opt.state['step'].item())} (eval CD {after:.4f})")
run_session(model, opt, SPLIT_AT, TOTAL_STEPS, train_gen)

final = mx.mean(chamfer(model(eval_pts), eval_pts)).item()
print(f"final eval CD {final:.4f} | template {template_cd:.4f} | second scan {floor:.4f} | {time.time() - t0:.1f}s")
shutil.rmtree(ckpt_dir)
