# Match noisy hiker GPS tracks to the trail they walked (CLIP-style two towers).
# Each trail is a 24-point elevation profile; a hiker's watch records the same
# profile with barometric drift, scale error and noise. Stage 2 uses older
# watches (more drift and noise), so the contrastive loss jumps when it starts.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
N_TRAILS, L = 600, 24


def make_trails(n):
    x = np.linspace(0, 1, L)
    prof = np.zeros((n, L))
    for k in range(3):
        a = rng.normal(0, 1, (n, 1))
        c = rng.uniform(0, 1, (n, 1))
        w = rng.uniform(0.08, 0.3, (n, 1))
        prof += a * np.exp(-((x - c) ** 2) / (2 * w ** 2))
    prof += rng.normal(0, 0.4, (n, 1)) * x  # overall climb
    return prof.astype(np.float32)


def record(trails, drift, noise):
    n = trails.shape[0]
    x = np.linspace(0, 1, L)
    scale = rng.uniform(0.85, 1.15, (n, 1))
    off = rng.normal(0, 0.5, (n, 1))
    d = rng.normal(0, drift, (n, 1)) * x
    return (trails * scale + off + d + rng.normal(0, noise, trails.shape)).astype(np.float32)


trails_np = make_trails(N_TRAILS)
val_trails_np = make_trails(128)


class Tower(nn.Module):
    def __init__(self, dim=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(L, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, dim))

    def __call__(self, x):
        x = x - x.mean(axis=1, keepdims=True)  # elevation offset is meaningless
        z = self.net(x)
        return z / mx.sqrt((z * z).sum(axis=1, keepdims=True) + 1e-6)


class Matcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.track = Tower()
        self.trail = Tower()
        self.log_scale = mx.array(math.log(5.0))

    def __call__(self, tracks, trails):
        a = self.track(tracks)
        b = self.trail(trails)
        return mx.exp(self.log_scale) * (a @ b.T)


def clip_loss(model, tracks, trails):
    logits = model(tracks, trails)
    tgt = mx.arange(logits.shape[0])
    l1 = nn.losses.cross_entropy(logits, tgt, reduction="mean")
    l2 = nn.losses.cross_entropy(logits.T, tgt, reduction="mean")
    return 0.5 * (l1 + l2)


group = mx.distributed.init()
world = group.size()

model = Matcher()
mx.eval(model.parameters())

STEPS_PER_STAGE, BATCH, PEAK, WARM = 250, 96, 2e-3, 60
stages = [("new watches", 0.15, 0.05), ("old watches", 0.6, 0.2)]
total = STEPS_PER_STAGE * len(stages)


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM  # starts from exactly 0
    p = (step - WARM) / (total - WARM)
    return PEAK * 0.5 * (1 + math.cos(math.pi * p))


opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, clip_loss)


def top1(tracks, trails):
    logits = model(tracks, trails)
    return (mx.argmax(logits, axis=1) == mx.arange(logits.shape[0])).mean().item() * 100


t0 = time.time()
step = 0
print(f"world={world} rank={group.rank()} trails={N_TRAILS} chance@128={100/128:.2f}%")
for sname, drift, noise in stages:
    val_tracks = mx.array(record(val_trails_np, drift, noise))
    val_trails = mx.array(val_trails_np)
    run = 0.0
    for i in range(STEPS_PER_STAGE):
        idx = rng.choice(N_TRAILS, BATCH, replace=False)
        tr = mx.array(record(trails_np[idx], drift, noise))
        tl = mx.array(trails_np[idx])
        opt.learning_rate = lr_at(step)
        loss, grads = grad_fn(model, tr, tl)
        grads = mx.distributed.all_sum(grads) if world > 1 else grads
        grads = nn.utils.tree_map(lambda g: g / world, grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = loss.item() if i == 0 else 0.9 * run + 0.1 * loss.item()
        step += 1
        if (i + 1) % 50 == 0 or i == 0:
            done = int(20 * (i + 1) / STEPS_PER_STAGE)
            el = time.time() - t0
            print(f"{sname:12s} |{'#'*done}{'.'*(20-done)}| {i+1:3d}/{STEPS_PER_STAGE} "
                  f"[{el:5.1f}s, loss={run:.3f}, lr={lr_at(step-1):.2e}, scale={math.exp(model.log_scale.item()):.1f}]")
    print(f"  -> {sname}: val top1 {top1(val_tracks, val_trails):.1f}% (chance {100/128:.1f}%)")

print(f"finished {step} steps in {time.time()-t0:.1f}s")
