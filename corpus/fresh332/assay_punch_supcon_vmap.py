# Assay office: which hallmark punch struck this mark?
# Each punch leaves small, stable defects; every strike is read as 18 synthetic
# measurements (outline radii, serif depths, pitting) with strike-depth gain,
# tilt and noise. 64 punches for training; 24 punches kept apart for a
# gallery/query identification test.
# Supervised contrastive loss (SupCon, Khosla et al. 2020), written per anchor
# and mapped over the batch with mx.vmap.
# Two stages: 'bench' (fresh punches) then 'worn' (heavier wear noise); each
# stage warms the learning rate up from exactly 0 again.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)

N_FEAT, LATENT = 18, 5
BASIS = rng.normal(size=(LATENT, N_FEAT)) / math.sqrt(LATENT)
PHASE = rng.uniform(0, 2 * math.pi, size=N_FEAT)


def strike(punches, idx, wear):
    z = punches[idx]
    depth = rng.uniform(0.7, 1.3, size=(len(idx), 1))
    tilt = rng.normal(scale=0.3, size=(len(idx), 1)) * np.linspace(-1, 1, N_FEAT)
    x = depth * np.sin(z @ BASIS + PHASE) + tilt
    x = x + rng.normal(scale=wear, size=x.shape)
    return x.astype(np.float32)


train_punches = rng.normal(size=(64, LATENT))
test_punches = rng.normal(size=(24, LATENT))


class PunchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_FEAT, 96), nn.SiLU(),
            nn.Linear(96, 96), nn.SiLU(),
            nn.Linear(96, 24))

    def __call__(self, x):
        e = self.body(x)
        return e / mx.sqrt((e * e).sum(-1, keepdims=True) + 1e-12)


TEMP = 0.1


def anchor_loss(sim_row, pos_row, other_row):
    # one anchor: -mean over its positives of log softmax over all others
    logits = sim_row / TEMP
    logits = mx.where(other_row, logits, -1e9)
    log_prob = logits - mx.logsumexp(logits)
    return -(mx.where(pos_row, log_prob, 0.0).sum() / pos_row.sum())


per_anchor = mx.vmap(anchor_loss, in_axes=(0, 0, 0))


def supcon(model, x, y):
    e = model(x)
    sim = e @ e.T
    B = sim.shape[0]
    eye = mx.eye(B, dtype=mx.bool_)
    pos = (y[:, None] == y[None, :]) & ~eye
    return per_anchor(sim, pos, ~eye).mean()


def identify(model, wear, n_gallery=3, n_query=6):
    g_idx = np.repeat(np.arange(24), n_gallery)
    q_idx = np.repeat(np.arange(24), n_query)
    g = np.array(model(mx.array(strike(test_punches, g_idx, wear))))
    q = np.array(model(mx.array(strike(test_punches, q_idx, wear))))
    cent = np.stack([g[g_idx == c].mean(0) for c in range(24)])
    cent /= np.linalg.norm(cent, axis=1, keepdims=True)
    pred = np.argmax(q @ cent.T, axis=1)
    return 100.0 * float((pred == q_idx).mean())


P, K = 16, 6
FLOOR = math.log(K - 1)
STAGES = [("bench", 0.25, 240), ("worn", 0.55, 240)]
WARM = 40


print(f"hallmark punches: 64 train / 24 held out, batch {P} punches x {K} strikes, "
      f"SupCon temp {TEMP}")
print(f"SupCon floor for {K - 1} positives per anchor: log({K - 1}) = {FLOOR:.3f}; "
      f"chance identification {100 / 24:.1f}%")

model = PunchNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, supcon)
t0 = time.time()

hdr = f"{'stage':>6} {'step':>5} {'lr':>9} {'supcon':>8} {'gap':>7} {'id %':>6} {'secs':>6}"
for name, wear, steps in STAGES:
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, WARM),
         optim.cosine_decay(1e-3, steps - WARM, 5e-5)], [WARM])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    print(f"-- stage {name}: wear noise {wear}, id% before stage "
          f"{identify(model, wear):.1f}")
    print(hdr)
    window = []
    for step in range(1, steps + 1):
        punches = rng.choice(64, size=P, replace=False)
        idx = np.repeat(punches, K)
        xb = mx.array(strike(train_punches, idx, wear))
        yb = mx.array(idx.astype(np.int32))
        lr_now = opt.learning_rate.item()
        loss, grads = loss_and_grad(model, xb, yb)
        if step == 1 and name == "bench":
            gn = [float(mx.abs(g).max()) for _, g in tree_flatten(grads)]
            print(f"   grad audit: {len(gn)} arrays, {sum(v > 0 for v in gn)} nonzero, "
                  f"largest |g| {max(gn):.3e}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step == 1 or step % 40 == 0:
            m = float(np.mean(window))
            print(f"{name:>6} {step:>5} {lr_now:>9.2e} {m:>8.4f} {m - FLOOR:>7.4f} "
                  f"{identify(model, wear):>6.1f} {time.time() - t0:>6.1f}")
            window = []

print(f"done: id% bench {identify(model, 0.25):.1f}, worn {identify(model, 0.55):.1f} "
      f"(chance {100 / 24:.1f})")
