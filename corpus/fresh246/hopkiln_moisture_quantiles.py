"""Hop kiln: final cone moisture (%) after a drying batch, with a 10/50/90% quantile head."""
import os, tempfile, math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)

def make_batches(n):
    air_c = rng.uniform(50, 70, n)
    airflow = rng.uniform(0.2, 0.6, n)
    depth_cm = rng.uniform(40, 90, n)
    start_moist = rng.uniform(72, 82, n)
    hours = rng.uniform(6, 12, n)
    variety = rng.integers(0, 3, n)
    rate = 0.011 * (air_c - 40) * (0.5 + airflow) * (60.0 / depth_cm) * (1 + 0.15 * (variety == 2))
    final = 8.0 + (start_moist - 70) * np.exp(-rate * hours) * 2.2
    noise_sd = 0.4 + 0.05 * (depth_cm - 40) / 10
    y = final + rng.normal(0, 1, n) * noise_sd
    X = np.stack([air_c, airflow, depth_cm, start_moist, hours,
                  variety == 0, variety == 1, variety == 2], 1).astype(np.float32)
    return X, y.astype(np.float32)

Xtr, ytr = make_batches(6000)
Xva, yva = make_batches(1500)
mu, sd = Xtr[:, :5].mean(0), Xtr[:, :5].std(0)
def scale(X):
    X = X.copy(); X[:, :5] = (X[:, :5] - mu) / sd; return X
Xtr, Xva = mx.array(scale(Xtr)), mx.array(scale(Xva))
ytr, yva = mx.array(ytr), mx.array(yva)
QS = mx.array([0.1, 0.5, 0.9])

class QuantileNet(nn.Module):
    def __init__(self, d_in, h=64):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.norm = nn.LayerNorm(h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 3)
    def __call__(self, x):
        h = nn.silu(self.norm(self.inp(x)))
        h = h + nn.silu(self.mid(h))
        raw = self.out(h)
        # monotone quantiles: median plus non-negative gaps
        lo_gap, med, hi_gap = raw[:, 0], raw[:, 1], raw[:, 2]
        return mx.stack([med - nn.softplus(lo_gap), med, med + nn.softplus(hi_gap)], 1)

def pinball(pred, y):
    diff = y[:, None] - pred
    return mx.mean(mx.maximum(QS * diff, (QS - 1) * diff))

def loss_fn(model, x, y):
    return pinball(model(x), y)

model = QuantileNet(Xtr.shape[1])
mx.eval(model.parameters())

steps_per_epoch = 6000 // 128
warm = 60
cycle_epochs = [10, 10, 10]
cycle_steps = [e * steps_per_epoch for e in cycle_epochs]
peak = [3e-3, 1.5e-3, 7.5e-4]

def lr_at(step):
    if step < warm:
        return peak[0] * step / warm          # starts at exactly 0
    s = step
    for c, n in enumerate(cycle_steps):
        if s < n:
            return 0.5 * peak[c] * (1 + math.cos(math.pi * s / n))
        s -= n
    return 0.0

opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

q_const = np.quantile(np.array(ytr), [0.1, 0.5, 0.9]).astype(np.float32)
base = pinball(mx.broadcast_to(mx.array(q_const), (yva.shape[0], 3)), yva).item()
print(f"baseline (constant training quantiles) val pinball = {base:.4f}")

ckpt_dir = tempfile.mkdtemp("_hopkiln")
global_step = 0
epoch = 0

def evaluate():
    p = model(Xva)
    pb = pinball(p, yva).item()
    inside = mx.mean((yva >= p[:, 0]) & (yva <= p[:, 2])).item()
    mae = mx.mean(mx.abs(p[:, 1] - yva)).item()
    return pb, inside, mae

for cycle in range(3):
    if cycle == 2:
        # resume from the checkpoint written at the end of cycle 2
        model.load_weights(os.path.join(ckpt_dir, "kiln_c1.safetensors"))
        st = dict(mx.load(os.path.join(ckpt_dir, "kiln_c1_opt.safetensors")))
        opt.state = tree_unflatten(list(st.items()))
        global_step = int(st["step"].item()) if "step" in st else global_step
        print(f"resumed from checkpoint at step {global_step}")
    for e in range(cycle_epochs[cycle]):
        perm = mx.array(rng.permutation(6000))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * 128:(b + 1) * 128]
            opt.learning_rate = lr_at(global_step)
            loss, grads = step_fn(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            global_step += 1
        epoch += 1
        quiet = cycle == 1 and e not in (0, cycle_epochs[cycle] - 1)
        if not quiet:
            pb, inside, mae = evaluate()
            print(f"cycle {cycle} epoch {epoch:2d} lr {lr_at(global_step - 1):.2e} "
                  f"train_pinball {tot / steps_per_epoch:.4f} val_pinball {pb:.4f} "
                  f"cover80 {inside:.3f} median_mae {mae:.3f}")
    model.save_weights(os.path.join(ckpt_dir, f"kiln_c{cycle}.safetensors"))
    flat = dict(tree_flatten(opt.state))
    mx.save_safetensors(os.path.join(ckpt_dir, f"kiln_c{cycle}_opt.safetensors"), flat)
    print(f"end of cycle {cycle}: checkpoint written")

pb, inside, mae = evaluate()
print(f"final val pinball {pb:.4f} vs baseline {base:.4f}; 10-90 coverage {inside:.3f}; median MAE {mae:.3f}")
