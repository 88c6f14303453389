import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Ferry terminal: minutes to board a sailing, from 6 readings, 4 simulated workers
rng = np.random.default_rng(7)
N = 16000
X = rng.normal(size=(N, 6)).astype(np.float32)
cars, trucks, bikes, wind, ramp_age, tide = X.T
y = (22 + 4.0 * cars + 2.5 * np.maximum(trucks, 0) ** 1.5 + 1.2 * np.sin(2 * bikes)
     + 1.8 * np.abs(wind) * (tide > 0) + 0.8 * ramp_age * cars + rng.normal(0, 1.2, N)).astype(np.float32)
ymu, ysd = y[:13000].mean(), y[:13000].std()
Xtr, ytr = X[:13000], (y[:13000] - ymu) / ysd
Xva, yva = mx.array(X[13000:]), y[13000:]

WORLD, RANK_R, BATCH, STEPS = 4, 2, 64, 1600
shards = [np.arange(13000)[w::WORLD] for w in range(WORLD)]

mx.random.seed(3)
model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
sched = optim.join_schedules([optim.linear_schedule(0.0, 0.05, 100), optim.cosine_decay(0.05, STEPS - 100, 1e-3)], [100])
opt = optim.SGD(learning_rate=sched, momentum=0.9)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb).squeeze(-1), yb)

vg = nn.value_and_grad(model, loss_fn)
names = [k for k, _ in tree_flatten(model.trainable_parameters())]
shapes = {k: v.shape for k, v in tree_flatten(model.trainable_parameters())}
errs = [{k: mx.zeros(shapes[k]) for k in names if len(shapes[k]) == 2} for _ in range(WORLD)]
Qs = {k: mx.random.normal((shapes[k][1], RANK_R)) for k in names if len(shapes[k]) == 2}

def orthonormal(P):
    q, _ = mx.linalg.qr(P, stream=mx.cpu)
    return q

def val_rmse():
    p = np.array(model(Xva).squeeze(-1)) * ysd + ymu
    return float(np.sqrt(np.mean((p - yva) ** 2)))

full = sum(int(np.prod(s)) for s in shapes.values())
sent = sum((shapes[k][0] + shapes[k][1]) * RANK_R if len(shapes[k]) == 2 else int(np.prod(shapes[k])) for k in names)
print(f"workers={WORLD} rank={RANK_R} floats_per_step={sent} of {full} ({100*sent/full:.1f}%)")
print(f"predict-the-mean val rmse {float(np.sqrt(np.mean((yva - ymu) ** 2))):.3f} min; noise floor ~1.20 min")
print("step,lr,train_mse,val_rmse_min,approx_rel_err,secs")
t0 = time.time(); run = []
for step in range(1, STEPS + 1):
    wgrads, losses = [], []
    for w in range(WORLD):
        idx = rng.choice(shards[w], BATCH, replace=False)
        l, g = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
        wgrads.append(dict(tree_flatten(g))); losses.append(l)
    out, num, den = {}, 0.0, 0.0
    for k in names:
        exact = sum(g[k] for g in wgrads) / WORLD
        if len(shapes[k]) != 2:
            out[k] = exact
            continue
        Ms = [wgrads[w][k] + errs[w][k] for w in range(WORLD)]
        P = orthonormal(sum(M @ Qs[k] for M in Ms) / WORLD)
        Q = sum(M.T @ P for M in Ms) / WORLD
        approx = P @ Q.T
        for w in range(WORLD):
            errs[w][k] = Ms[w] - approx
        Qs[k] = Q
        out[k] = approx
        num = num + mx.sum((approx - exact) ** 2); den = den + mx.sum(exact ** 2)
    opt.update(model, tree_unflatten(list(out.items())))
    rel = mx.sqrt(num / den)
    mx.eval(model.parameters(), opt.state, errs, Qs, rel, *losses)
    run.append(float(sum(losses).item() / WORLD))
    if step == 1 or step % 100 == 0:
        print(f"{step},{float(sched(mx.array(step - 1))):.4f},{np.mean(run[-100:]):.4f},{val_rmse():.3f},{rel.item():.3f},{time.time()-t0:.1f}")
print(f"done: val rmse {val_rmse():.3f} min after {STEPS} steps")
