# Open-cluster proper motion from a crowded star field.
# Perceiver-style latent array (learned latents cross-attend to an unordered set of stars),
# two stages with a checkpoint hand-off: stage A on sparse fields, stage B resumes from the
# saved weights + optimizer state on denser, more contaminated fields. YAML-like log.
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 5
DIM = 32
LATENTS = 4
BATCH = 64
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def fields(n, n_stars, field_share):
    # star features: pm_ra, pm_dec (mas/yr, scaled /5), parallax, colour, magnitude
    centre = rng.normal(scale=1.2, size=(n, 2)).astype(np.float32)
    x = np.zeros((n, n_stars, 5), np.float32)
    for i in range(n):
        share = rng.uniform(*field_share)
        is_field = rng.random(n_stars) < share
        is_field[: 3] = False  # at least three members per field
        pm = np.where(is_field[:, None], rng.normal(scale=2.0, size=(n_stars, 2)),
                      centre[i] + rng.normal(scale=0.08, size=(n_stars, 2)))
        plx = np.where(is_field, rng.uniform(0.1, 2.0, n_stars), 0.8 + rng.normal(scale=0.05, size=n_stars))
        colour = rng.normal(scale=0.5, size=n_stars)
        mag = np.where(is_field, rng.uniform(-1, 1, n_stars), 0.6 * colour + rng.normal(scale=0.1, size=n_stars))
        x[i] = np.column_stack([pm, plx, colour, mag])
    rng.shuffle(x, axis=1)
    return mx.array(x), mx.array(centre)


class CrossBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_q = nn.LayerNorm(DIM)
        self.ln_kv = nn.LayerNorm(DIM)
        self.att = nn.MultiHeadAttention(DIM, 4)
        self.ln_f = nn.LayerNorm(DIM)
        self.ff = nn.Sequential(nn.Linear(DIM, 2 * DIM), nn.GELU(), nn.Linear(2 * DIM, DIM))

    def __call__(self, q, kv):
        kv = self.ln_kv(kv)
        h = q + self.att(self.ln_q(q), kv, kv)
        return h + self.ff(self.ln_f(h))


class ClusterPerceiver(nn.Module):
    def __init__(self):
        super().__init__()
        self.latents = 0.2 * mx.random.normal((LATENTS, DIM))
        self.embed = nn.Linear(5, DIM)
        self.read = CrossBlock()
        self.think = CrossBlock()
        self.read_again = CrossBlock()
        self.out = nn.Linear(DIM, 2)

    def __call__(self, stars):
        e = self.embed(stars)
        lat = mx.broadcast_to(self.latents[None], (stars.shape[0], LATENTS, DIM))
        lat = self.read(lat, e)
        lat = self.think(lat, lat)
        lat = self.read_again(lat, e)
        return self.out(lat.mean(axis=1))


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def metrics(model, x, y):
    p = model(x)
    err = mx.sqrt(((p - y) ** 2).sum(-1))
    return loss_fn(model, x, y).item(), 5.0 * err.mean().item()


def naive_errors(x, y):
    pm = np.array(x)[..., :2]
    yy = np.array(y)
    med = 5.0 * np.sqrt(((np.median(pm, 1) - yy) ** 2).sum(-1)).mean()
    mean = 5.0 * np.sqrt(((pm.mean(1) - yy) ** 2).sum(-1)).mean()
    return med, mean


def run_stage(name, model, opt, sched, steps, n_stars, share, report_every, first_step):
    xv, yv = fields(600, n_stars, share)
    med, mean = naive_errors(xv, yv)
    hv, ev = metrics(model, xv, yv)
    print(f"{name}:")
    print(f"  stars_per_field: {n_stars}")
    print(f"  field_star_share: {share[0]:.2f}-{share[1]:.2f}")
    print(f"  baseline_error_masyr: {{median_of_stars: {med:.3f}, mean_of_stars: {mean:.3f}}}")
    print(f"  start: {{valid_huber: {hv:.4f}, valid_error_masyr: {ev:.3f}}}")
    print("  log:")
    vg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    run = []
    for k in range(steps):
        x, y = fields(BATCH, n_stars, share)
        lr_used = float(sched(opt.step))
        loss, g = vg(model, x, y)
        if k == 0:
            flat = tree_flatten(g)
            nz = sum(1 for _, v in flat if float(mx.abs(v).max()) > 0)
            print(f"    - grad_check: {{leaves: {len(flat)}, nonzero: {nz}, lr_first_update: {lr_used:.1e}}}")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run.append(loss.item())
        step = first_step + k + 1
        if (k + 1) % report_every == 0:
            hv, ev = metrics(model, xv, yv)
            print(f"    - {{step: {step}, lr: {lr_used:.2e}, train_huber: {np.mean(run):.4f}, "
                  f"valid_huber: {hv:.4f}, valid_error_masyr: {ev:.3f}, secs: {time.time() - t0:.1f}}}")
            run = []
    return ev, med


# ---- stage A: sparse fields, few interlopers
model = ClusterPerceiver()
mx.eval(model.parameters())
sched_a = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 40), lambda s: mx.array(2e-3)], [40])
opt = optim.Adamax(learning_rate=sched_a)
run_stage("stage_a", model, opt, sched_a, 240, 12, (0.2, 0.45), 40, 0)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint: {{dir: {ckpt}, optimizer_step: {int(opt.step)}}}")

# ---- stage B: fresh objects, resume, denser and dirtier fields, lr re-warmed from 0
model = ClusterPerceiver()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
sched_b = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, 30), optim.cosine_decay(1e-3, 330, 5e-5)], [30])
opt = optim.Adamax(learning_rate=sched_b)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
opt.state["step"] = mx.array(0, mx.uint64)  # new schedule for the new stage; moments kept
print(f"resume: {{weights: loaded, optimizer_moments: loaded, schedule: restarted}}")
err_b, med_b = run_stage("stage_b", model, opt, sched_b, 360, 40, (0.45, 0.75), 60, 240)
print(f"done: {{valid_error_masyr: {err_b:.3f}, median_baseline: {med_b:.3f}}}")
