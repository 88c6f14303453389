# Oast-house hop drying: predict residual cone moisture (%) after a kiln charge.
# MLP with BatchNorm, Lion under a decay-only step schedule, grad-norm clipping,
# then a closing pass at lr 0 that only refreshes the BatchNorm running statistics.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

def make(n):
    green = rng.uniform(74, 84, n)          # green cone moisture %
    depth = rng.uniform(0.3, 0.9, n)        # bed depth m
    temp = rng.uniform(55, 70, n)           # air-on temperature C
    flow = rng.uniform(0.3, 1.0, n)         # relative fan flow
    hours = rng.uniform(6, 12, n)           # drying hours
    rh = rng.uniform(30, 80, n)             # outside humidity %
    k = 0.018 * (temp - 40) * flow ** 0.7 / depth * (1 - 0.004 * (rh - 30))
    moist = 8 + (green - 8) * np.exp(-k * hours / 2.2) + rng.normal(0, 0.35, n)
    X = np.stack([green, depth, temp, flow, hours, rh], 1)
    return X.astype(np.float32), moist.astype(np.float32)

Xtr, ytr = make(12000)
Xva, yva = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_z, yva_m = mx.array((ytr - ym) / ys), mx.array(yva)

model = nn.Sequential(
    nn.Linear(6, 64), nn.BatchNorm(64), nn.ReLU(),
    nn.Linear(64, 64), nn.BatchNorm(64), nn.ReLU(),
    nn.Linear(64, 1),
)

DECAY_STEPS = 1800
RECAL_STEPS = 150
sched = optim.join_schedules(
    [optim.step_decay(1e-3, 0.3, 600), optim.linear_schedule(0.0, 0.0, 1)],
    [DECAY_STEPS],
)
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb).squeeze(-1), yb)

vg = nn.value_and_grad(model, loss_fn)
MAX_NORM = 0.25

def val_rmse():
    model.eval()
    pred = model(Xva).squeeze(-1) * ys + ym
    r = mx.sqrt(mx.mean((pred - yva_m) ** 2)).item()
    model.train()
    return r

base = float(np.sqrt(np.mean((yva - ym) ** 2)))
print(f"# charges train={Xtr.shape[0]} valid={Xva.shape[0]} predict-mean rmse={base:.3f} %  gauge noise=0.35 %")
print(f"# untrained valid rmse={val_rmse():.3f} %")
print("step,stage,lr,train_mse_z,clipped_pct,gnorm_median,valid_rmse_pct,secs")

B = 128
perm, cur = rng.permutation(12000), 0
clipped, norms, window = 0, [], []
t0 = time.time()
snap = None
total = DECAY_STEPS + RECAL_STEPS
for step in range(1, total + 1):
    if cur + B > 12000:
        perm, cur = rng.permutation(12000), 0
    idx = mx.array(perm[cur:cur + B]); cur += B
    lr_now = sched(mx.array(opt.step)).item()
    loss, grads = vg(model, Xtr[idx], ytr_z[idx])
    grads, gn = optim.clip_grad_norm(grads, MAX_NORM)
    opt.update(model, grads)
    mx.eval(model.parameters(), model.state, opt.state, loss, gn)
    g = gn.item()
    norms.append(g); window.append(loss.item())
    clipped += g > MAX_NORM
    if step == DECAY_STEPS:
        snap = {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}
        rm_before = np.array(model.layers[1].running_mean)
    if step % 150 == 0 or step == 1:
        stage = "decay" if step <= DECAY_STEPS else "bn_refresh"
        print(f"{step},{stage},{lr_now:.2e},{np.mean(window):.4f},"
              f"{100*clipped/len(norms):.1f},{np.median(norms):.3f},{val_rmse():.3f},{time.time()-t0:.1f}")
        window = []

after = {k: np.array(v) for k, v in tree_flatten(model.trainable_parameters())}
dw = max(float(np.abs(after[k] - snap[k]).max()) for k in after)
drm = float(np.abs(np.array(model.layers[1].running_mean) - rm_before).max())
print(f"# refresh stage: max |dW| = {dw:.2e}, max |d running_mean| = {drm:.3e}")
print(f"# steps clipped at norm {MAX_NORM}: {clipped}/{total} ({100*clipped/total:.1f}%)")
print(f"# final valid rmse {val_rmse():.3f} %  (predict-mean {base:.3f} %)")
