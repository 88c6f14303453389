# Spare-parts depot: weekly demand per part is mostly zero (intermittent).
# Hurdle model: P(demand > 0) and a log-normal size given demand.
# Training is split in two sessions with a checkpoint/resume in between.
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
P, W, LAG = 60, 220, 12
p_occ = rng.uniform(0.08, 0.55, P)
mu_sz = rng.uniform(0.5, 2.5, P)
weeks = np.arange(W)
season = 0.35 * np.sin(2 * np.pi * weeks / 52.0)
demand = np.zeros((P, W), np.float32)
for i in range(P):
    prob = np.clip(p_occ[i] * (1 + season), 0.01, 0.95)
    occ = rng.random(W) < prob
    size = np.round(np.exp(mu_sz[i] + season + 0.4 * rng.standard_normal(W)))
    demand[i] = occ * np.maximum(size, 1)

def windows(t0, t1):
    X, Y = [], []
    for t in range(max(t0, LAG), t1):
        hist = np.log1p(demand[:, t - LAG:t])
        nz = (demand[:, t - LAG:t] > 0).mean(1, keepdims=True)
        tt = np.repeat([[np.sin(2 * np.pi * t / 52), np.cos(2 * np.pi * t / 52)]], P, 0)
        X.append(np.concatenate([hist, nz, tt], 1)); Y.append(demand[:, t])
    return np.concatenate(X).astype(np.float32), np.concatenate(Y).astype(np.float32)

SPLIT = 180
Xtr, Ytr = windows(0, SPLIT)
Xte, Yte = windows(SPLIT, W)
print(f"train rows {len(Xtr)}  test rows {len(Xte)}  zero share {np.mean(Ytr == 0):.2f}")

class Hurdle(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.occ = nn.Linear(64, 1)
        self.size = nn.Linear(64, 1)
        self.log_sigma = mx.array([0.0])
    def __call__(self, x):
        h = self.trunk(x)
        return self.occ(h).squeeze(-1), self.size(h).squeeze(-1)

def hurdle_nll(model, x, y):
    logit, mu = model(x)
    pos = (y > 0).astype(mx.float32)
    bce = nn.losses.binary_cross_entropy(logit, pos, reduction="none")
    ls = model.log_sigma[0]
    ly = mx.log(mx.maximum(y, 1.0))
    gauss = 0.5 * ((ly - mu) / mx.exp(ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)
    return mx.mean(bce + pos * gauss)

TOTAL, WARM, BS = 1200, 150, 256
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, TOTAL - WARM, 1e-5)], [WARM])

def make():
    m = Hurdle(Xtr.shape[1]); o = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    return m, o

def run(model, opt, start, stop, rs):
    lg = nn.value_and_grad(model, hurdle_nll)
    for step in range(start, stop):
        idx = rs.integers(0, len(Xtr), BS)
        loss, g = lg(model, mx.array(Xtr[idx]), mx.array(Ytr[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == stop - 1:
            print(f"step {step:5d}  lr {opt.learning_rate.item():.2e}  hurdle_nll {loss.item():.4f}")

def forecast(model, x):
    logit, mu = model(mx.array(x))
    s = mx.exp(model.log_sigma[0])
    return np.array(mx.sigmoid(logit) * mx.exp(mu + 0.5 * s * s))

def croston(alpha=0.1):
    out = np.zeros((P, W - SPLIT), np.float32)
    for i in range(P):
        z, q, k = None, 1.0, 1
        for t in range(W):
            if t >= SPLIT:
                out[i, t - SPLIT] = 0.0 if z is None else z / q
            if demand[i, t] > 0:
                if z is None: z, q = demand[i, t], float(k)
                else: z = z + alpha * (demand[i, t] - z); q = q + alpha * (k - q)
                k = 1
            else:
                k += 1
    return out.T.reshape(-1)

t0 = time.time()
rs = np.random.default_rng(0)
model, opt = make()
print("session 1")
run(model, opt, 0, TOTAL // 2, rs)
ck = tempfile.mkdtemp()
model.save_weights(os.path.join(ck, "w.safetensors"))
mx.save_safetensors(os.path.join(ck, "o.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {TOTAL // 2}")
del model, opt
model, opt = make()
model.load_weights(os.path.join(ck, "w.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ck, "o.safetensors")).items()))
print(f"session 2 resumed, optimizer step {opt.step.item()}")
run(model, opt, TOTAL // 2, TOTAL, rs)

pred = forecast(model, Xte)
cro = croston()
mae = lambda f: float(np.mean(np.abs(f - Yte)))
print(f"test MAE  zero-forecast {mae(np.zeros_like(Yte)):.3f}  croston {mae(cro):.3f}  hurdle {mae(pred):.3f}")
tot_true = Yte.reshape(-1, P).sum(1); tot_pred = pred.reshape(-1, P).sum(1)
print(f"depot weekly total: mean actual {tot_true.mean():.1f}  mean forecast {tot_pred.mean():.1f}  sigma {math.exp(model.log_sigma.item()):.3f}")
print(f"done in {time.time() - t0:.1f}s")
