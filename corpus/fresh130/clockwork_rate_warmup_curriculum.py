"""Timegrapher log: predict a mechanical movement's daily rate (s/day) from bench readings.

Stage 1 learns only the dial-up / dial-down readings at room temperature (easy), stage 2
adds the four crown positions and the thermal chamber (harder), so the loss jumps when
stage 2 starts.  Each stage restarts its step counter and warms the learning rate up from 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N = 3000
POSITIONS = 6  # DU, DD, CU, CD, CL, CR


def make_bench(n, key):
    k1, k2, k3, k4, k5 = mx.random.split(key, 5)
    pos = mx.random.randint(0, POSITIONS, (n,), key=k1)
    amp = 220.0 + 90.0 * mx.random.uniform(shape=(n,), key=k2)           # degrees
    temp = 8.0 + 30.0 * mx.random.uniform(shape=(n,), key=k3)            # deg C
    reserve = mx.random.uniform(shape=(n,), key=k4)                      # fraction wound
    beat_err = 0.6 * mx.random.uniform(shape=(n,), key=k5)               # ms
    pos_bias = mx.array([2.0, 3.0, -4.0, -6.5, -1.5, -3.0])
    rate = (pos_bias[pos]
            + 0.045 * (amp - 270.0)
            - 0.35 * (temp - 23.0) + 0.012 * (temp - 23.0) ** 2
            + 5.0 * (1.0 - reserve) ** 2 * (pos >= 2)
            + 4.0 * beat_err)
    noise = 0.4 * mx.random.normal((n,), key=mx.random.key(99))
    onehot = (pos[:, None] == mx.arange(POSITIONS)[None, :]).astype(mx.float32)
    x = mx.concatenate([onehot, ((amp - 270) / 50)[:, None], ((temp - 23) / 10)[:, None],
                        reserve[:, None], beat_err[:, None]], axis=1)
    return x, rate + noise, pos, temp


x_all, y_all, pos_all, temp_all = make_bench(N, mx.random.key(3))
easy = ((pos_all < 2) & (mx.abs(temp_all - 23.0) < 5.0))
easy_idx = mx.array([i for i, e in enumerate(easy.tolist()) if e])
all_idx = mx.arange(N)
x_val, y_val, _, _ = make_bench(600, mx.random.key(11))


class RateNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(10, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(self.body(x)).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


model = RateNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, mse)

baseline_sd = float(mx.sqrt(((y_val - y_val.mean()) ** 2).mean()))
stages = [("dial-only, 21-25C", easy_idx, 300, 3e-3), ("all positions, chamber", all_idx, 700, 2e-3)]
t0 = time.time()
for sname, idx, steps, peak in stages:
    warm = 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, warm),
                                  optim.cosine_decay(peak, steps - warm, 1e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    n = idx.shape[0]
    print(f"== stage '{sname}': {n} bench logs, {steps} steps, lr 0 -> {peak:g}")
    run = None
    for step in range(steps):
        b = idx[mx.random.randint(0, n, (64,))]
        loss, grads = loss_and_grad(model, x_all[b], y_all[b])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lv = loss.item()
        run = lv if run is None else 0.9 * run + 0.1 * lv
        if step % 50 == 0 or step == steps - 1:
            done = (step + 1) / steps
            bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
            el = time.time() - t0
            rmse = math.sqrt(mse(model, x_val, y_val).item())
            print(f"{sname[:8]:>8} |{bar}| {step + 1:4d}/{steps} [{el:5.1f}s, lr={opt.learning_rate.item():.2e}] "
                  f"mse={run:7.3f} (s/day)^2  val_rmse={rmse:6.3f} s/day  (spread {baseline_sd:.2f})")

rmse = math.sqrt(mse(model, x_val, y_val).item())
print(f"final chronometer check: val RMSE {rmse:.3f} s/day vs {baseline_sd:.3f} s/day spread; "
      f"COSC-style +/-2 s/day hit rate {100 * float((mx.abs(model(x_val) - y_val) < 2.0).mean()):.1f}%")
