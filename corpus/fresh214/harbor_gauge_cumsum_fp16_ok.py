# Estimate the mean water level of a harbour tide-gauge stream at every sample,
# from the raw reading and a running average computed in half precision
# (the gauge logger stores readings as float16 to save memory).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
T = 4096          # samples per stream
B = 8             # streams per batch
STEPS = 300
DATUM = 5.0       # sensor sits 5 m below chart datum


def make_batch():
    level = mx.random.uniform(0.0, 1.0, (B, 1))      # metres above chart datum
    noise = mx.random.normal((B, T))
    reading = (DATUM + level + 0.3 * noise).astype(mx.float16)
    return reading, level


def features(reading):
    # running mean of the reading so far, kept in the logger's dtype
    pos = mx.arange(1, T + 1, dtype=mx.float32)
    running = mx.cumsum(reading.astype(mx.float32), axis=1) / pos
    return (mx.stack([reading, running], axis=-1).astype(mx.float32) - DATUM - 0.5) * 2.0


class LevelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(2, 32)
        self.l2 = nn.Linear(32, 1)

    def __call__(self, f):
        return self.l2(nn.relu(self.l1(f))).squeeze(-1)


model = LevelNet()
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, f, level):
    pred = m(f)
    return mx.mean((pred - level) ** 2)


step_fn = nn.value_and_grad(model, loss_fn)

t0 = time.time()
for step in range(1, STEPS + 1):
    reading, level = make_batch()
    f = features(reading)
    loss, grads = step_fn(model, f, level)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 25 == 0 or step == 1:
        pred = model(f)
        tail = mx.mean((pred[:, -1024:] - level) ** 2)
        print(f"step {step:4d}  mse {loss.item():.5f}  tail_mse {tail.item():.5f}")

reading, level = make_batch()
pred = model(features(reading))
err = mx.mean(mx.abs(pred[:, -1] - level.squeeze(-1)))
print(f"final: mean |level error| at last sample = {err.item():.4f} m  ({time.time()-t0:.1f}s)")
