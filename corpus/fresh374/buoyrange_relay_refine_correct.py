"""Position estimates for drifting wave buoys from shore-station ranges.

Six shore stations measure a noisy range to the buoy. The estimate starts at the
station centroid and is refined by ONE update block applied again and again
(the same weights at every refinement pass); inside the block a per-station
encoder is also shared by all six stations. The loss is a discounted sum over
all passes, so it is larger than the error of the last pass.

Two stages: "calm" (gaussian range noise only), then "swell" where 6% of the
ranges carry a multipath delay (loss jumps up at the switch). The learning rate
warms up from exactly 0, then a hand-written reduce-on-plateau halves it.
"""

import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(3745)
mx.random.seed(3745)

STATIONS = np.array([[0.0, 0.0], [4.0, -0.5], [8.5, 0.3], [10.0, 4.0], [0.3, 6.5], [9.2, 9.0]], np.float32)
NS = len(STATIONS)
SIGMA = 0.02          # km
PASSES = 6
GAMMA = 0.8
CENTROID = STATIONS.mean(0)


def make_batch(n, multipath):
    p = rng.uniform([1.0, 1.0], [9.0, 8.0], (n, 2)).astype(np.float32)
    rng_true = np.linalg.norm(p[:, None, :] - STATIONS[None], axis=-1)
    r = rng_true + rng.normal(0.0, SIGMA, rng_true.shape)
    if multipath:
        hit = rng.random(rng_true.shape) < 0.06
        r = r + hit * rng.uniform(0.3, 1.5, rng_true.shape)
    return p, r.astype(np.float32)


class Refiner(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.station_enc = nn.Sequential(nn.Linear(6, width), nn.SiLU(), nn.Linear(width, width))
        self.step_head = nn.Sequential(nn.Linear(width + 2, width), nn.SiLU(), nn.Linear(width, 2))

    def refine(self, pos, ranges, stations):
        diff = pos[:, None, :] - stations[None]                   # (B, S, 2)
        dist = mx.sqrt(mx.sum(diff * diff, axis=-1) + 1e-6)       # (B, S)
        unit = diff / dist[..., None]
        resid = ranges - dist
        f = mx.concatenate([resid[..., None], unit, resid[..., None] * unit,
                            mx.log(dist)[..., None]], axis=-1)     # (B, S, 6)
        pooled = mx.mean(self.station_enc(f), axis=1)
        return pos + self.step_head(mx.concatenate([pooled, pos / 10.0], axis=-1))

    def __call__(self, ranges, passes):
        stations = mx.array(STATIONS)
        pos = mx.broadcast_to(mx.array(CENTROID), (ranges.shape[0], 2))
        track = [pos]
        for _ in range(passes):
            pos = self.refine(pos, ranges, stations)
            track.append(pos)
        return track


def seq_loss(model, ranges, target):
    track = model(ranges, PASSES)
    total = 0.0
    for k, pos in enumerate(track[1:], start=1):
        err = mx.sqrt(mx.sum((pos - target) ** 2, axis=-1) + 1e-8)
        total = total + GAMMA ** (PASSES - k) * mx.mean(err)
    return total


def gauss_newton(r, iters=PASSES):
    pos = np.tile(CENTROID, (len(r), 1)).astype(np.float64)
    for _ in range(iters):
        diff = pos[:, None, :] - STATIONS[None]
        dist = np.linalg.norm(diff, axis=-1) + 1e-9
        J = diff / dist[..., None]
        res = r - dist
        JTJ = np.einsum("bsi,bsj->bij", J, J) + 1e-6 * np.eye(2)
        pos += np.linalg.solve(JTJ, np.einsum("bsi,bs->bi", J, res)[..., None])[..., 0]
    return pos


model = Refiner()
mx.eval(model.parameters())
n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
warm_sched = optim.linear_schedule(0.0, 2e-3, 50)
opt = optim.Adam(learning_rate=warm_sched)

state = [model.state, opt.state]
loss_and_grad = nn.value_and_grad(model, seq_loss)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(ranges, target):
    loss, grads = loss_and_grad(model, ranges, target)
    opt.update(model, grads)
    return loss


val = {name: make_batch(1000, mp) for name, mp in (("calm", False), ("swell", True))}
vp_calm, vr_calm = val["calm"]
vp_sw, vr_sw = val["swell"]

# gradient audit on one batch (weights are shared by all passes, so every leaf must get signal)
p_a, r_a = make_batch(256, False)
l_a, g_a = loss_and_grad(model, mx.array(r_a), mx.array(p_a))
norms = {k: float(mx.sqrt(mx.sum(v * v))) for k, v in tree_flatten(g_a)}
print(f"# refiner: {n_par} parameters, {len(norms)} leaves, one block reused for {PASSES} passes; "
      f"smallest leaf grad norm {min(norms.values()):.2e}, initial seq loss {float(l_a):.3f}")
for name, (vp, vr) in val.items():
    gn = np.linalg.norm(gauss_newton(vr) - vp, axis=-1)
    c0 = np.linalg.norm(CENTROID[None] - vp, axis=-1)
    print(f"# {name:5s} references: centroid median {1000 * np.median(c0):7.1f} m, "
          f"gauss-newton x{PASSES} median {1000 * np.median(gn):6.1f} m, p90 {1000 * np.quantile(gn, 0.9):6.1f} m")

hdr = f"{'stage':6s} {'step':>5s} {'lr':>9s} {'seq_loss':>9s} " + " ".join(f"{'p' + str(k) + '_m':>8s}" for k in range(PASSES + 1)) + f" {'p90_m':>8s}"


def evaluate(vp, vr, passes=PASSES):
    track = model(mx.array(vr), passes)
    errs = [1000 * np.median(np.linalg.norm(np.array(p) - vp, axis=-1)) for p in track]
    p90 = 1000 * np.quantile(np.linalg.norm(np.array(track[-1]) - vp, axis=-1), 0.9)
    return errs, p90


t0 = time.time()
step = 0
print(hdr)
for stage, n_steps, mp, (vp, vr) in (("calm", 300, False, val["calm"]), ("swell", 400, True, val["swell"])):
    best, bad = math.inf, 0
    for i in range(n_steps):
        p, r = make_batch(128, mp)
        lr_used = float(opt.learning_rate)
        loss = train_step(mx.array(r), mx.array(p))
        mx.eval(loss, model.parameters(), opt.state)
        step += 1
        if step == 50:
            opt.learning_rate = 2e-3            # warm-up finished, hold the peak
        if (i + 1) % 100 == 0:
            errs, p90 = evaluate(vp, vr)
            if errs[-1] < best - 0.05:
                best, bad = errs[-1], 0
            else:
                bad += 1
                if bad >= 2:
                    opt.learning_rate = float(opt.learning_rate) * 0.5
                    bad = 0
        quiet = 60 < step < 200
        if not quiet and (step <= 2 or step % 100 == 0 or i == 0):
            errs, p90 = evaluate(vp, vr)
            print(f"{stage:6s} {step:5d} {lr_used:9.2e} {float(loss):9.4f} "
                  + " ".join(f"{e:8.1f}" for e in errs) + f" {p90:8.1f}")

print(f"# trained {step} steps in {time.time() - t0:.1f}s")
for name, (vp, vr) in val.items():
    for passes in (PASSES, 2 * PASSES):
        errs, p90 = evaluate(vp, vr, passes)
        print(f"# {name:5s} with {passes:2d} passes: median {errs[-1]:6.1f} m, p90 {p90:6.1f} m")
