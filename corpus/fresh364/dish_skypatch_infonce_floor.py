"""Radio dish + optical finder: match sky patches across two instruments.

For each pointing we have
  * optical: 12 summary numbers of the finder-camera star field
  * radio:   a 32-channel spectrometer sweep of the same patch
Both are noisy functions of a hidden 6-d 'sky state'. A two-tower model is
trained with symmetric InfoNCE (CLIP style) and a learnable temperature.

Notes for whoever reads the log:
  * pointings repeat: 25% of each batch are re-observations of a patch that
    already appears in the batch, so the loss cannot reach 0 (floor printed).
  * 'mi_bound' = log(B) - loss is the InfoNCE lower bound on mutual
    information; it is meant to go UP.
  * logging is every 25 steps for the first 100, then quiet until step 500.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

D_SKY, D_OPT, D_RAD = 6, 12, 32
N_PATCH = 1500
A_opt = rng.normal(0, 1, (D_SKY, D_OPT)) / math.sqrt(D_SKY)
A_rad = rng.normal(0, 1, (D_SKY, D_RAD)) / math.sqrt(D_SKY)
sky = rng.normal(0, 1, (N_PATCH, D_SKY)).astype(np.float32)


def observe(ids, r):
    s = sky[ids]
    opt_view = np.tanh(s @ A_opt) + r.normal(0, 0.3, (len(ids), D_OPT))
    rad_view = (s @ A_rad) ** 2 * 0.5 + s @ A_rad + r.normal(0, 0.5, (len(ids), D_RAD))
    return opt_view.astype(np.float32), rad_view.astype(np.float32)


class Tower(nn.Module):
    def __init__(self, d_in, d_out=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, d_out))

    def __call__(self, x):
        z = self.net(x)
        return z / mx.sqrt((z * z).sum(axis=-1, keepdims=True) + 1e-8)


class TwoTower(nn.Module):
    def __init__(self):
        super().__init__()
        self.optical = Tower(D_OPT)
        self.radio = Tower(D_RAD)
        self.log_scale = mx.array(math.log(1 / 0.2))

    def logits(self, o, r):
        scale = mx.exp(mx.clip(self.log_scale, 0.0, math.log(100.0)))
        return scale * (self.optical(o) @ self.radio(r).T)


def info_nce(model, o, r, ids):
    lg = model.logits(o, r)
    # a re-observed patch is a positive too: soft targets over equal ids
    same = (ids[:, None] == ids[None, :]).astype(mx.float32)
    tgt = same / same.sum(axis=1, keepdims=True)
    l_or = -(tgt * nn.log_softmax(lg, axis=1)).sum(axis=1).mean()
    l_ro = -(tgt.T * nn.log_softmax(lg.T, axis=1)).sum(axis=1).mean()
    return 0.5 * (l_or + l_ro)


B = 128
STEPS = 900
model = TwoTower()
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 60), optim.cosine_decay(2e-3, STEPS - 60, 1e-5)], [60])
opt = optim.Adam(learning_rate=sched)
loss_and_grad = nn.value_and_grad(model, info_nce)


def batch(step):
    r = np.random.default_rng(50_000 + step)
    n_new = int(B * 0.75)
    fresh = r.choice(N_PATCH, n_new, replace=False)
    ids = np.concatenate([fresh, r.choice(fresh, B - n_new)])
    o, ra = observe(ids, r)
    return mx.array(o), mx.array(ra), mx.array(ids.astype(np.int32))


# entropy floor of the soft targets: the best achievable loss on a batch
def floor_for(ids):
    ids = np.array(ids)
    _, counts = np.unique(ids, return_counts=True)
    per = {c: math.log(c) for c in counts}
    return float(np.mean([per[c] for c in counts for _ in range(c)]))


val_r = np.random.default_rng(99)
val_ids = np.arange(0, N_PATCH, 3)[:300]
vo, vr = observe(val_ids, val_r)
vo, vr = mx.array(vo), mx.array(vr)


def recall_at(k):
    lg = model.logits(vo, vr)
    rank = mx.argsort(-lg, axis=1)[:, :k]
    hit = (rank == mx.arange(len(val_ids))[:, None]).any(axis=1)
    return hit.astype(mx.float32).mean().item()


print(f"val gallery {len(val_ids)} patches: chance R@1 {1/len(val_ids):.4f}  R@5 {5/len(val_ids):.4f}")
for step in range(STEPS):
    o, r, ids = batch(step)
    loss, grads = loss_and_grad(model, o, r, ids)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if (step < 100 and step % 25 == 0) or (step >= 500 and step % 100 == 0) or step == STEPS - 1:
        lv = loss.item()
        t = 1 / math.exp(min(max(model.log_scale.item(), 0.0), math.log(100.0)))
        print(f"step {step:4d} lr {sched(step).item():.2e} loss {lv:.4f} floor {floor_for(ids):.4f} "
              f"mi_bound {math.log(B) - lv:+.3f} temp {t:.3f} R@1 {recall_at(1):.3f} R@5 {recall_at(5):.3f}")

print(f"final: R@1 {recall_at(1):.3f} (chance {1/len(val_ids):.4f}), R@5 {recall_at(5):.3f}")
