# Pigeon-racing club: predict a bird's velocity (metres per minute) from
# 5 race-sheet readings using only the club's 28 logged races. The net is far
# larger than the data, so validation is checked from step 0 and training
# stops once it has not improved for PATIENCE checks; the best weights are
# written to disk and read back before the final test.
import os
import tempfile
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
TRUE_W = np.array([0.9, -0.6, 0.4, 0.0, -0.3], dtype=np.float32)

def races(n):
    x = rng.normal(size=(n, 5)).astype(np.float32)   # headwind, distance, bird age, ring no., temp
    y = x @ TRUE_W + 0.7 * rng.normal(size=n).astype(np.float32)
    return mx.array(x), mx.array(y[:, None])

x_tr, y_tr = races(28)
x_va, y_va = races(40)
x_te, y_te = races(400)

mx.random.seed(11)
model = nn.Sequential(nn.Linear(5, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, 1))
mx.eval(model.parameters())
opt = optim.Adam(learning_rate=3e-3)

def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y, reduction="mean")

step_fn = nn.value_and_grad(model, mse)
EVAL_EVERY, PATIENCE, MAX_STEPS = 10, 4, 2000
ckpt = os.path.join(tempfile.mkdtemp(), "loft_best.safetensors")

best, best_step, waited = float("inf"), -1, 0
for step in range(0, MAX_STEPS + 1):
    if step % EVAL_EVERY == 0:
        tr = mse(model, x_tr, y_tr).item()
        va = mse(model, x_va, y_va).item()
        mark = ""
        if va < best:
            best, best_step, waited = va, step, 0
            model.save_weights(ckpt)
            mark = "  * saved"
        else:
            waited += 1
        print(f"step {step:4d}  train {tr:.4f}  val {va:.4f}{mark}")
        if waited >= PATIENCE:
            print(f"stopping: no val gain for {PATIENCE} checks (best at step {best_step})")
            break
    if step == MAX_STEPS:
        break
    loss, g = step_fn(model, x_tr, y_tr)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)

last_val = mse(model, x_va, y_va).item()
model.load_weights(ckpt)
mx.eval(model.parameters())
restored = mse(model, x_va, y_va).item()
print(f"val at stop {last_val:.4f}, restored best {restored:.4f} (logged {best:.4f})")

test = mse(model, x_te, y_te).item()
mean_base = float(np.mean((np.array(y_te) - float(np.mean(np.array(y_tr)))) ** 2))
xa = np.c_[np.array(x_tr), np.ones(28)]
coef, *_ = np.linalg.lstsq(xa, np.array(y_tr), rcond=None)
ols = float(np.mean((np.c_[np.array(x_te), np.ones(400)] @ coef - np.array(y_te)) ** 2))
print(f"test mse {test:.4f} | predict-the-mean {mean_base:.4f} | ols {ols:.4f} | noise floor {0.7**2:.4f}")
