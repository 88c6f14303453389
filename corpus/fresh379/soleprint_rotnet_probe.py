"""Forensic footwear lab: tread-pattern embeddings from unlabelled sole-print lifts.

Stage 1 ("pretext"): a small CNN learns to tell which of 4 rotations (0/90/180/270)
was applied to an unlabelled 16x16 lift.  Some tread families look the same after
rotation (concentric rings, square stud grids, half-turn bars), so the rotation
accuracy has a ceiling well below 100%.

Stage 2 ("probe"): the encoder is frozen and only a linear layer is fitted on 150
labelled lifts (5 tread families).  The same probe is also fitted on an untrained
encoder of the same shape as a reference.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
SIZE = 16
FAMILIES = ["chevron", "bars", "rings", "zigzag", "studs"]


def lift(family, rng):
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    px, py = rng.uniform(0, 6, size=2)
    x, y = xx + px, yy + py
    if family == 0:  # chevron pointing up
        img = ((np.abs(xx - 7.5) + y) % 6.0) < 3.0
    elif family == 1:  # horizontal bars
        img = (y % 4.0) < 2.0
    elif family == 2:  # concentric rings around a jittered centre
        cx, cy = 7.5 + rng.uniform(-1, 1), 7.5 + rng.uniform(-1, 1)
        r = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        img = (r % 5.0) < 2.0
    elif family == 3:  # zigzag with a slant (has a preferred direction)
        tri = np.abs(((x / 3.0) % 2.0) - 1.0) * 3.0
        img = ((y + tri + 0.35 * xx) % 6.0) < 2.5
    else:  # square stud grid
        img = ((x % 5.0) < 2.0) & ((y % 5.0) < 2.0)
    img = img.astype(np.float32)
    contrast = rng.uniform(0.6, 1.0)
    img = contrast * img + rng.normal(0, 0.25, size=img.shape).astype(np.float32)
    return img


def make_set(n, rng):
    fam = rng.integers(0, 5, size=n)
    imgs = np.stack([lift(int(f), rng) for f in fam])
    return imgs, fam


def rotate_batch(imgs, rng):
    k = rng.integers(0, 4, size=len(imgs))
    out = np.stack([np.rot90(im, int(kk)) for im, kk in zip(imgs, k)])
    return out[..., None], k


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)

    def __call__(self, x):
        x = nn.relu(self.c1(x))
        x = nn.relu(self.c2(x))
        x = nn.relu(self.c3(x))
        return mx.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)


class RotNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Linear(64, 4)

    def __call__(self, x):
        return self.head(self.encoder(x))


class Probe(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.linear = nn.Linear(64, 5)

    def __call__(self, x):
        return self.linear(self.encoder(x))


def snapshot(module):
    return {k: np.array(v) for k, v in tree_flatten(module.parameters())}


def drift(before, module):
    now = {k: np.array(v) for k, v in tree_flatten(module.parameters())}
    return max(float(np.abs(now[k] - before[k]).max()) for k in before)


# ---------------------------------------------------------------- data
t0 = time.time()
pool_unlabelled, _ = make_set(3000, rng)
probe_x, probe_y = make_set(150, rng)
test_x, test_y = make_set(600, rng)
rot_val_x, rot_val_k = rotate_batch(make_set(400, rng)[0], rng)
print(f"[data] unlabelled={len(pool_unlabelled)} probe_labels={len(probe_x)} "
      f"test={len(test_x)} rot_val={len(rot_val_x)} prep_s={time.time() - t0:.1f}")

# ---------------------------------------------------------------- stage 1: pretext
rot = RotNet()
mx.eval(rot.parameters())
PRE_STEPS, WARM = 300, 30
pre_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, PRE_STEPS - WARM, 1e-5)],
    [WARM],
)
pre_opt = optim.AdamW(learning_rate=pre_sched, weight_decay=1e-4)


def rot_loss(model, x, k):
    return nn.losses.cross_entropy(model(x), k, reduction="mean")


rot_step = nn.value_and_grad(rot, rot_loss)


def rot_accuracy(model):
    pred = mx.argmax(model(mx.array(rot_val_x)), axis=-1)
    return float((pred == mx.array(rot_val_k)).astype(mx.float32).mean()) * 100


print("[pretext]")
print(f"  chance_rot_acc_pct = 25.0")
print(f"  untrained_rot_acc_pct = {rot_accuracy(rot):.1f}")
window = []
for step in range(1, PRE_STEPS + 1):
    idx = rng.integers(0, len(pool_unlabelled), size=48)
    xb, kb = rotate_batch(pool_unlabelled[idx], rng)
    lr_now = float(pre_sched(pre_opt.step))
    loss, grads = rot_step(rot, mx.array(xb), mx.array(kb))
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.abs(g).max()) == 0.0]
        print(f"  grad_leaves = {len(flat)}  zero_grad_leaves = {zero}  lr_at_step1 = {lr_now:.1e}")
    pre_opt.update(rot, grads)
    mx.eval(rot.parameters(), pre_opt.state, loss)
    window.append(loss.item())
    if step % 50 == 0:
        print(f"  step {step:4d} | lr {lr_now:.2e} | rot_ce {np.mean(window):.4f} | "
              f"val_rot_acc {rot_accuracy(rot):5.1f}%")
        window = []

# ---------------------------------------------------------------- stage 2: probes
def fit_probe(name, encoder):
    probe = Probe(encoder)
    probe.encoder.freeze()
    mx.eval(probe.parameters())
    before = snapshot(probe.encoder)
    steps, warm = 200, 20
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.05, warm), optim.cosine_decay(0.05, steps - warm, 1e-4)],
        [warm],
    )
    opt = optim.SGD(learning_rate=sched, momentum=0.9)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    step_fn = nn.value_and_grad(probe, loss_fn)
    px, py = mx.array(probe_x[..., None]), mx.array(probe_y)
    tx, ty = mx.array(test_x[..., None]), mx.array(test_y)
    n_train = sum(v.size for _, v in tree_flatten(probe.trainable_parameters()))
    print(f"[probe.{name}]")
    print(f"  trainable_params = {n_train}")
    for step in range(1, steps + 1):
        idx = mx.array(rng.integers(0, len(probe_x), size=50))
        loss, grads = step_fn(probe, px[idx], py[idx])
        opt.update(probe, grads)
        mx.eval(probe.parameters(), opt.state, loss)
        if step in (1, 20, 60, 120, 200):
            test_logits = probe(tx)
            test_ce = nn.losses.cross_entropy(test_logits, ty, reduction="mean").item()
            acc = float((mx.argmax(test_logits, -1) == ty).astype(mx.float32).mean()) * 100
            print(f"  step {step:3d} | train_ce {loss.item():.4f} | test_ce {test_ce:.4f} | "
                  f"test_acc {acc:5.1f}%")
    d = drift(before, probe.encoder)
    print(f"  encoder_drift = {d:.1f}")
    return acc


acc_pre = fit_probe("pretrained", rot.encoder)
acc_rand = fit_probe("random_init", Encoder())
print("[summary]")
print(f"  probe_acc_pretrained_pct = {acc_pre:.1f}")
print(f"  probe_acc_random_init_pct = {acc_rand:.1f}")
print(f"  chance_pct = 20.0")
print(f"  wall_s = {time.time() - t0:.1f}")
