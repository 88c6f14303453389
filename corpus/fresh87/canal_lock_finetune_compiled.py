"""Canal lock fill time: pretrain on the old lock's log, then fine-tune on the
new lock (same physics, slightly different sluice coefficient)."""
import json, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)

def make_lock(n, coef):
    head = rng.uniform(1.0, 6.0, n)        # m
    area = rng.uniform(150, 600, n)        # m2 chamber
    paddles = rng.integers(1, 5, n).astype(np.float64)
    opening = rng.uniform(0.3, 1.0, n)
    tide = rng.uniform(-0.5, 0.5, n)
    minutes = coef * area * np.sqrt(head) / (paddles * opening * 60.0) * (1 + 0.1 * tide)
    minutes = minutes * np.exp(rng.normal(0, 0.03, n))
    X = np.stack([head, area, paddles, opening, tide], 1)
    return X, np.log(minutes)

Xa, ya = make_lock(12000, 1.00)
Xb, yb = make_lock(3000, 1.08)
Xbt, ybt = make_lock(1500, 1.08)
mu, sd = Xa.mean(0), Xa.std(0)
ymu = ya.mean()
prep = lambda X: mx.array(((X - mu) / sd).astype(np.float32))
tgt = lambda y: mx.array((y - ymu).astype(np.float32))[:, None]

class LockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(self.body(x))

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

def mae_minutes(model, X, y):
    p = np.array(model(prep(X)))[:, 0] + ymu
    return float(np.mean(np.abs(np.exp(p) - np.exp(y))))

def log(**kw):
    print(json.dumps(kw), flush=True)

def run(model, opt, X, y, steps, bs, tag, every):
    state = [model.state, opt.state]
    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, t):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, t)
        opt.update(model, g)
        return loss
    Xm, ym = prep(X), tgt(y)
    n = X.shape[0]; perm = rng.permutation(n); cur = 0; window = []
    t0 = time.time()
    for s in range(1, steps + 1):
        if cur + bs > n:
            perm = rng.permutation(n); cur = 0
        idx = mx.array(perm[cur:cur + bs]); cur += bs
        loss = step(Xm[idx], ym[idx])
        mx.eval(loss, state)
        window.append(loss.item())
        if every and (s == 1 or s % every == 0):
            log(phase=tag, step=s, lr=round(float(opt.learning_rate), 6), train_mse_log=round(float(np.mean(window)), 5),
                secs=round(time.time() - t0, 2))
            window = []
    return model

mx.random.seed(0)
model = LockNet()
# gradient audit on the first pretraining batch
_, g0 = nn.value_and_grad(model, loss_fn)(model, prep(Xa[:128]), tgt(ya[:128]))
leaves = tree_flatten(g0)
log(event="grad_audit", leaves=len(leaves), zero=[k for k, v in leaves if float(mx.abs(v).max()) == 0.0])

# stage 1: pretraining on the old lock, silent
pre_opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 2500, 2e-5))
run(model, pre_opt, Xa, ya, 2500, 128, "pretrain", 0)
log(event="pretrained", old_lock_mae_min=round(mae_minutes(model, Xa[:2000], ya[:2000]), 3),
    new_lock_mae_min=round(mae_minutes(model, Xbt, ybt), 3))

# stage 2: gentle fine-tune of the converged model on the new lock
ft_opt = optim.AdamW(learning_rate=2e-4, weight_decay=1e-4)
run(model, ft_opt, Xb, yb, 600, 64, "finetune", 100)
final = mae_minutes(model, Xbt, ybt)
noise = float(np.mean(np.abs(np.exp(ybt) - np.exp(ybt) / np.exp(rng.normal(0, 0.03, len(ybt))))))
log(event="done", new_lock_mae_min=round(final, 3), approx_noise_floor_min=round(noise, 3))
