# Bicycle tyre: pressure loss (psi) over a ride, with a Laplace scale head.
# Trains in two sessions: session 1 writes a checkpoint, session 2 resumes from it.
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

STEPS_PER_SESSION = 700
BATCH = 96
REPORT = 175

rng = np.random.default_rng(7)
N = 9000
width = rng.uniform(23, 60, N); start = rng.uniform(30, 110, N); hours = rng.uniform(0.2, 6, N)
temp = rng.uniform(0, 35, N); tubeless = rng.integers(0, 2, N).astype(float); rough = rng.uniform(0, 1, N)
rate = 0.012 * (1 + 0.8 * rough) * (1 - 0.5 * tubeless) * (start / 60) * (1 + 0.01 * (temp - 15))
drop = start * (1 - np.exp(-rate * hours)) + 0.02 * (temp - 15) * start / 60
drop = drop + rng.laplace(0, 0.05 + 0.1 * rough, N)
X = np.stack([width, start, hours, temp, tubeless, rough], 1).astype(np.float32)
mu, sd = X[:7500].mean(0), X[:7500].std(0)
X = ((X - mu) / sd).astype(np.float32)
Xtr, ytr = mx.array(X[:7500]), mx.array(drop[:7500].astype(np.float32))
Xva, yva = mx.array(X[7500:]), drop[7500:]

class TyreNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.loc = nn.Linear(64, 1)
        self.log_b = nn.Linear(64, 1)
    def __call__(self, x):
        h = self.body(x)
        return self.loc(h).squeeze(-1), mx.clip(self.log_b(h).squeeze(-1), -6, 3)

def laplace_nll(model, x, y):
    m, lb = model(x)
    return mx.mean(lb + mx.abs(y - m) * mx.exp(-lb) + np.log(2.0))

def evaluate(model):
    m, lb = model(Xva)
    nll = laplace_nll(model, Xva, mx.array(yva.astype(np.float32))).item()
    return nll, float(np.abs(np.array(m) - yva).mean())

def session(ckdir, idx, start_step):
    model = TyreNet()
    opt = optim.Adam(learning_rate=optim.cosine_decay(2e-3, 2 * STEPS_PER_SESSION, 5e-5))
    wpath = os.path.join(ckdir, "tyre.safetensors"); opath = os.path.join(ckdir, "tyre_opt.safetensors")
    if start_step > 0:
        model.load_weights(wpath)
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        print(f"[session {idx}] resumed from {os.path.basename(wpath)} at step {int(opt.state['step'].item())}")
    else:
        opt.init(model.trainable_parameters())
    mx.eval(model.parameters(), opt.state)
    nll0, mae0 = evaluate(model)
    print(f"[session {idx}] step={start_step:04d} valid_nll={nll0:+.3f} valid_mae_psi={mae0:.3f}")
    vg = nn.value_and_grad(model, laplace_nll)
    order = np.random.default_rng(100 + idx)
    window = []
    t0 = time.time()
    for s in range(start_step + 1, start_step + STEPS_PER_SESSION + 1):
        ix = mx.array(order.integers(0, 7500, BATCH))
        loss, g = vg(model, Xtr[ix], ytr[ix])
        if s == start_step + 1:
            fl = tree_flatten(g)
            print(f"[session {idx}] grad check: {len(fl)} leaves, zero: {[k for k, v in fl if not mx.any(v != 0).item()]}")
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if s % REPORT == 0:
            nll, mae = evaluate(model)
            print(f"[session {idx}] step={s:04d} lr={opt.learning_rate.item():.2e} train_nll={np.mean(window):+.3f} "
                  f"valid_nll={nll:+.3f} valid_mae_psi={mae:.3f} t={time.time() - t0:.1f}s")
            window = []
    model.save_weights(wpath)
    mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
    print(f"[session {idx}] wrote checkpoint ({len(tree_flatten(model.parameters()))} tensors)")
    return model

with tempfile.TemporaryDirectory() as d:
    session(d, 1, 0)
    final = session(d, 2, STEPS_PER_SESSION)
nll, mae = evaluate(final)
print(f"done: valid_nll={nll:+.3f} nats (negative is fine: continuous density), valid_mae_psi={mae:.3f}")
