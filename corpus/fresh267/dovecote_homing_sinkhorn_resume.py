"""Racing-pigeon loft: homing time (minutes) from 8 release-day readings.

Mixture of 6 SiLU experts plus one always-on shared expert. While training, the
token-to-expert assignment is balanced with a few Sinkhorn iterations on the
router scores (BASE / S-BASE style, no gradient through the assignment); the
chosen expert's output is scaled by sigmoid(router score) so the router still
learns. At evaluation each row simply goes to its highest-scoring expert.

AdamW, linear warm-up from exactly 0 then cosine decay. Half-way the run writes
a checkpoint (weights + optimizer state), throws everything away, rebuilds and
resumes from the files. A dense MLP of similar size and a predict-the-mean line
are printed beside the mixture.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_TRAIN, N_VAL = 6000, 1500
FEATS = 8
E, HID, DIM = 6, 32, 48
STEPS, WARM, CKPT_AT = 800, 50, 400
BATCH = 256
PEAK_LR = 3e-3

rng = np.random.default_rng(SEED)


def make_loft(n):
    dist = rng.uniform(50, 400, n)            # km to loft
    wind_along = rng.normal(0, 6, n)           # m/s, + = tailwind
    wind_cross = rng.normal(0, 4, n)
    temp = rng.normal(18, 6, n)
    cloud = rng.uniform(0, 1, n)
    age = rng.integers(1, 8, n).astype(float)
    weight = rng.normal(450, 30, n)
    front = rng.integers(0, 3, n)              # hidden weather regime
    speed = 70 + 2.2 * wind_along - 0.8 * np.abs(wind_cross) + 1.5 * np.minimum(age, 4)
    speed = speed - 0.05 * (weight - 450)
    speed = np.where(front == 1, speed * 0.75 - 6 * cloud, speed)          # rain band
    speed = np.where(front == 2, speed - 0.04 * (temp - 18) ** 2 * 3, speed)  # heat
    speed = np.maximum(speed, 25)
    minutes = dist / speed * 60 + rng.normal(0, 4, n)
    x = np.stack([dist, wind_along, wind_cross, temp, cloud, age, weight,
                  (front == 1) * cloud + rng.normal(0, 0.15, n)], 1)
    return x.astype(np.float32), minutes.astype(np.float32)


xtr, ytr = make_loft(N_TRAIN)
xva, yva = make_loft(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
ytr_n, yva_n = (ytr - ym) / ys, (yva - ym) / ys
Xtr, Ytr = mx.array(xtr), mx.array(ytr_n)
Xva, Yva = mx.array(xva), mx.array(yva_n)


def sinkhorn_assign(scores, iters=6):
    # balanced assignment: each expert gets ~N/E rows; no gradient
    s = mx.stop_gradient(scores)
    log_p = s - mx.logsumexp(s, axis=None)
    n, e = s.shape
    for _ in range(iters):
        log_p = log_p - mx.logsumexp(log_p, axis=0, keepdims=True) - np.log(e)
        log_p = log_p - mx.logsumexp(log_p, axis=1, keepdims=True) - np.log(n)
    return mx.argmax(log_p, axis=1)


class LoftMixture(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(FEATS, DIM)
        self.norm = nn.LayerNorm(DIM)
        self.router = nn.Linear(DIM, E, bias=False)
        k1, k2 = mx.random.split(mx.random.key(SEED + 1))
        self.w_up = mx.random.normal((E, DIM, HID), key=k1) * DIM ** -0.5
        self.b_up = mx.zeros((E, 1, HID))
        self.w_down = mx.random.normal((E, HID, DIM), key=k2) * HID ** -0.5
        self.shared = nn.Sequential(nn.Linear(DIM, HID), nn.SiLU(), nn.Linear(HID, DIM))
        self.out = nn.Linear(DIM, 1)
        self.balanced = True

    def __call__(self, x):
        h = self.inp(x)
        z = self.norm(h)
        scores = self.router(z)                                     # (N, E)
        if self.training and self.balanced:
            choice = sinkhorn_assign(scores)
        else:
            choice = mx.argmax(mx.stop_gradient(scores), axis=1)
        onehot = (choice[:, None] == mx.arange(E)[None, :]).astype(z.dtype)
        gate = mx.sigmoid(mx.sum(scores * onehot, axis=1, keepdims=True))
        every = nn.silu(z[None] @ self.w_up + self.b_up) @ self.w_down  # (E, N, DIM)
        picked = mx.sum(every * onehot.T[:, :, None], axis=0)
        h = h + self.shared(z) + gate * picked
        return self.out(nn.silu(h)).squeeze(-1), choice


class DenseLoft(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(FEATS, DIM), nn.SiLU(), nn.Linear(DIM, 3 * HID),
                                 nn.SiLU(), nn.Linear(3 * HID, DIM), nn.SiLU(), nn.Linear(DIM, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1), None


def schedule():
    return optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARM),
         optim.cosine_decay(PEAK_LR, STEPS - WARM, 3e-5)], [WARM])


def loss_fn(model, x, y):
    pred, _ = model(x)
    return mx.mean((pred - y) ** 2)


def val_mse(model):
    model.eval()
    pred, choice = model(Xva)
    model.train()
    mse = mx.mean((pred - Yva) ** 2).item()
    return mse, choice


def minutes_mae(model):
    model.eval()
    pred, _ = model(Xva)
    model.train()
    return float(np.mean(np.abs(np.array(pred) * ys + ym - yva)))


def build(kind):
    mx.random.seed(SEED)
    model = LoftMixture() if kind == "moe" else DenseLoft()
    mx.eval(model.parameters())
    opt = optim.AdamW(learning_rate=schedule(), weight_decay=1e-4)
    return model, opt


def run_steps(model, opt, start, stop, tag, order, log_every=50):
    step_fn = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop):
        idx = mx.array(order[step % len(order)])
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % log_every == 0 or step == stop - 1:
            line = f"[{tag}] step {step:4d} lr {opt.learning_rate.item():.2e} train_mse {loss.item():.4f}"
            if tag == "moe":
                mse, choice = val_mse(model)
                load = np.bincount(np.array(choice), minlength=E) / N_VAL
                line += f" val_mse {mse:.4f} argmax_load " + " ".join(f"{v:.2f}" for v in load)
            print(line, flush=True)


def batch_orders():
    r = np.random.default_rng(SEED + 2)
    out = []
    while len(out) < STEPS:
        perm = r.permutation(N_TRAIN)
        out += [perm[i:i + BATCH] for i in range(0, N_TRAIN - BATCH + 1, BATCH)]
    return out[:STEPS]


t0 = time.time()
order = batch_orders()
print(f"loft data: train {N_TRAIN} val {N_VAL}, homing {ytr.mean():.1f} +/- {ytr.std():.1f} min")
print(f"predict-the-mean val_mse {float(np.mean(yva_n ** 2)):.4f}  mae {np.mean(np.abs(yva - ym)):.2f} min")

model, opt = build("moe")
run_steps(model, opt, 0, CKPT_AT, "moe", order)

ckdir = tempfile.mkdtemp(prefix="loft_ck_")
wpath = os.path.join(ckdir, "loft_weights.safetensors")
opath = os.path.join(ckdir, "loft_opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
before, _ = val_mse(model)
print(f"checkpoint written at step {CKPT_AT} (val_mse {before:.4f}); dropping in-memory model")
del model, opt

model, opt = build("moe")
model.load_weights(wpath)
opt.state = tree_unflatten(list(mx.load(opath).items()))
after, _ = val_mse(model)
print(f"resumed: optimizer step {opt.step.item()} lr {opt.learning_rate.item():.2e} val_mse {after:.4f}")
run_steps(model, opt, CKPT_AT, STEPS, "moe", order, log_every=100)
moe_mse, choice = val_mse(model)
moe_mae = minutes_mae(model)

dense, dopt = build("dense")
run_steps(dense, dopt, 0, STEPS, "dense", order, log_every=200)
dense.eval()
dpred, _ = dense(Xva)
dense_mse = mx.mean((dpred - Yva) ** 2).item()
dense_mae = float(np.mean(np.abs(np.array(dpred) * ys + ym - yva)))

n_moe = sum(v.size for _, v in tree_flatten(model.parameters()))
n_dense = sum(v.size for _, v in tree_flatten(dense.parameters()))
print(f"final val_mse  mixture {moe_mse:.4f} ({n_moe} params) | dense {dense_mse:.4f} ({n_dense} params) | mean 1.0000")
print(f"final val_mae  mixture {moe_mae:.2f} min | dense {dense_mae:.2f} min | mean {np.mean(np.abs(yva - ym)):.2f} min")
print(f"expert argmax load at eval: " + " ".join(f"{v:.2f}" for v in np.bincount(np.array(choice), minlength=E) / N_VAL))
print(f"done in {time.time() - t0:.1f}s")
