import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
N, F = 4000, 12
Xn = rng.normal(size=(N, F)).astype(np.float32)
w_true = rng.normal(size=(F, 1)).astype(np.float32)
noise = 0.5
yn = (Xn @ w_true + 1.5 + noise * rng.normal(size=(N, 1))).astype(np.float32)
Xtr, ytr, Xva, yva = map(mx.array, (Xn[:3200], yn[:3200], Xn[3200:], yn[3200:]))
A = np.hstack([Xn[:3200], np.ones((3200, 1), np.float32)])
coef = np.linalg.lstsq(A, yn[:3200], rcond=None)[0]
Ava = np.hstack([Xn[3200:], np.ones((800, 1), np.float32)])
ols_val = float(np.mean((Ava @ coef - yn[3200:]) ** 2))
mean_val = float(np.mean((yn[:3200].mean() - yn[3200:]) ** 2))

model = nn.Linear(F, 1)
def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)
lg = nn.value_and_grad(model, mse)
cycle = 300
warm = optim.linear_schedule(0.0, 0.05, 50)
cos = optim.cosine_decay(0.05, cycle - 50, 1e-4)
sched = optim.join_schedules([warm, cos], [50])
opt = optim.Adam(learning_rate=sched)
print(f"level=info msg=start n_train=3200 n_val=800 ols_val_mse={ols_val:.4f} mean_val_mse={mean_val:.4f} noise_var={noise**2:.4f}")
t0 = time.time()
step = 0
for restart in range(3):
    opt.state["step"] = mx.array(0, mx.uint64)
    for it in range(cycle):
        idx = mx.array(rng.integers(0, 3200, 64))
        loss, g = lg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        step += 1
        if it in (0, 1, 2, 50, 150, cycle - 1):
            v = mse(model, Xva, yva).item()
            print(f"level=info cycle={restart} step={step} lr={opt.learning_rate.item():.5f} batch_mse={loss.item():.4f} val_mse={v:.4f}")
v = mse(model, Xva, yva).item()
werr = float(np.abs(np.array(model.weight).T - w_true).max())
print(f"level=info msg=done val_mse={v:.4f} ols_val_mse={ols_val:.4f} max_abs_weight_err={werr:.4f} seconds={time.time()-t0:.1f}")
