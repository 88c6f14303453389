"""Tightrope walker balance pole: regress the corrective pole torque (N*m)
from six sensor readings. Stage 'calm' trains on still-air walks, stage
'gusty' adds crosswind gusts (a harder target), with early stopping that
restores the best weights seen in that stage."""
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s pole: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("pole")

rng = np.random.default_rng(2024)
mx.random.seed(2024)

def walk_log(n, gusty):
    lean = rng.normal(0, 1, n)          # body lean (deg, scaled)
    lean_rate = rng.normal(0, 1, n)     # lean rate
    rope_sway = rng.normal(0, 1, n)     # rope lateral sway
    step_phase = rng.uniform(-1, 1, n)  # where in the stride
    wind = rng.normal(0, 1, n) * (1.0 if gusty else 0.0)
    pole_len = rng.uniform(-1, 1, n)    # pole length (scaled)
    torque = (4.0 * np.tanh(1.2 * lean + 0.6 * lean_rate) + 1.5 * rope_sway * step_phase
              - 0.8 * pole_len * lean)
    if gusty:
        torque = torque + 2.5 * np.sin(1.5 * wind) * (1 + 0.5 * pole_len)
    torque = torque + rng.normal(0, 0.3, n)
    X = np.stack([lean, lean_rate, rope_sway, step_phase, wind, pole_len], 1).astype(np.float32)
    return mx.array(X), mx.array(torque.astype(np.float32))

@mx.custom_function
def soft_clip(x):
    return 3.0 * mx.tanh(x / 3.0)

@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    t = mx.tanh(primals / 3.0)
    return cotangent * (1.0 - t * t)

class PoleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 48)
        self.mid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
    def __call__(self, x):
        h = soft_clip(self.inp(x))
        h = soft_clip(self.mid(h))
        return self.out(h).squeeze(-1)

def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)

model = PoleNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=1e-2)
loss_and_grad = nn.value_and_grad(model, mse)

# one-off audit: custom VJP vs finite difference, and every tensor receives gradient
xa = mx.array(np.linspace(-5, 5, 9).astype(np.float32))
g_custom = mx.grad(lambda z: soft_clip(z).sum())(xa)
eps = 1e-3
g_fd = (3.0 * mx.tanh((xa + eps) / 3.0) - 3.0 * mx.tanh((xa - eps) / 3.0)) / (2 * eps)
log.info("audit soft_clip vjp: max|custom-fd|=%.2e", float(mx.max(mx.abs(g_custom - g_fd))))
Xp, yp = walk_log(256, True)
_, g0 = loss_and_grad(model, Xp, yp)
log.info("audit grad norms: %s", " ".join(f"{k}={float(mx.linalg.norm(v.reshape(-1))):.3f}"
                                          for k, v in tree_flatten(g0)))

def run_stage(name, gusty, max_epochs, patience):
    Xtr, ytr = walk_log(3000, gusty)
    Xva, yva = walk_log(800, gusty)
    base_mae = float(mx.mean(mx.abs(yva - mx.mean(ytr))))
    best, best_params, bad = float("inf"), None, 0
    for ep in range(1, max_epochs + 1):
        perm = mx.array(rng.permutation(3000))
        tot = 0.0
        for i in range(0, 3000, 100):
            idx = perm[i:i + 100]
            loss, grads = loss_and_grad(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += float(loss) * 100
        pred = model(Xva)
        va_mse = float(mx.mean((pred - yva) ** 2))
        va_mae = float(mx.mean(mx.abs(pred - yva)))
        flag = ""
        if va_mse < best - 1e-4:
            best, bad = va_mse, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            flag = " *"
        else:
            bad += 1
        log.info("%s ep %02d | train_mse %.4f | val_mse %.4f | val_mae %.3f N*m (mean-predictor %.3f N*m)%s",
                 name, ep, tot / 3000, va_mse, va_mae, base_mae, flag)
        if bad >= patience:
            log.info("%s: no val gain for %d epochs, stopping", name, patience)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    pred = model(Xva)
    log.info("%s restored best: val_mse %.4f val_mae %.3f N*m", name,
             float(mx.mean((pred - yva) ** 2)), float(mx.mean(mx.abs(pred - yva))))

run_stage("calm", gusty=False, max_epochs=30, patience=4)
run_stage("gusty", gusty=True, max_epochs=80, patience=5)
