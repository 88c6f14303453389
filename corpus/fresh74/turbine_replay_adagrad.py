# Online power-curve learning for a wind turbine from a SCADA stream.
# Every 10-minute record goes into a replay buffer (FIFO, capped at 6000 records);
# after each incoming block of 200 records the model takes 25 minibatch steps drawn
# from the buffer. Memory grows with the buffer until the cap, then holds.
import collections, resource, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def scada_block(n, t0):
    ws = rng.weibull(2.1, n) * 8.5                      # hub wind speed m/s
    wd = rng.uniform(0, 2 * np.pi, n)                   # wind direction
    rho = rng.normal(1.225, 0.03, n)                    # air density
    ti = rng.uniform(0.05, 0.25, n)                     # turbulence intensity
    cap = 2.3                                           # MW rated
    p = cap / (1 + np.exp(-(ws - 8.0) / 1.3))           # logistic-ish power curve
    p *= (rho / 1.225) * (1 - 0.5 * ti * (ws > 11))     # density and turbulence loss
    p *= 1 - 0.06 * (np.cos(wd - 0.7) < -0.8)           # wake from a neighbour at one sector
    p[(ws < 3.0) | (ws > 25.0)] = 0.0
    p += rng.normal(0, 0.04, n)
    x = np.stack([ws / 10, np.sin(wd), np.cos(wd), (rho - 1.225) / 0.03, ti * 10], 1)
    return x.astype(np.float32), (p / cap).astype(np.float32)[:, None]


class PowerCurve(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 96), nn.Tanh(), nn.Linear(96, 96), nn.Tanh())
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        return self.head(self.body(x))


mx.random.seed(3)
model = PowerCurve()
opt = optim.Adagrad(learning_rate=0.03)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

CAP, BLOCK, STEPS, BATCH, BLOCKS = 6000, 200, 25, 64, 90
buf_x, buf_y = collections.deque(maxlen=CAP), collections.deque(maxlen=CAP)
Xte, Yte = scada_block(3000, 0)
Xte, Yte = mx.array(Xte), mx.array(Yte)

print("block | records_seen | buffer | train_mse | test_rmse_kW | test_mae_kW | maxrss_MB | secs")
t0 = time.time()
recent = []
for b in range(BLOCKS):
    xb, yb = scada_block(BLOCK, b)
    buf_x.extend(xb)
    buf_y.extend(yb)
    bx, by = np.asarray(buf_x), np.asarray(buf_y)
    for s in range(STEPS):
        idx = rng.integers(0, len(bx), BATCH)
        loss, grads = vg(model, mx.array(bx[idx]), mx.array(by[idx]))
        if b == 0 and s == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if not mx.any(g != 0).item()]
            print(f"# step 1 gradient check: {len(leaves)} leaves, zero leaves: {zero or 'none'}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        recent.append(loss.item())
    if b % 6 == 0 or b == BLOCKS - 1:
        err = (model(Xte) - Yte) * 2300.0
        rmse = mx.sqrt(mx.mean(err ** 2)).item()
        mae = mx.mean(mx.abs(err)).item()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{b + 1:5d} | {(b + 1) * BLOCK:12d} | {len(buf_x):6d} | {np.mean(recent):9.5f} | "
              f"{rmse:12.1f} | {mae:11.1f} | {rss:9.1f} | {time.time() - t0:5.1f}")
        recent = []
print(f"# done: noise floor is 40 kW rms; buffer held at {len(buf_x)} of cap {CAP}")
