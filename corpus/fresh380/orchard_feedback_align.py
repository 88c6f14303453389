"""Orchard frost-fan power demand, fitted with feedback alignment.

A 3-layer tanh MLP predicts fan power (kW) from 8 synthetic night-time sensor
readings.  The backward pass does NOT use the transposed forward weights: each
dense layer sends the error back through its own constant random matrix
(Lillicrap et al., 2016), written with mx.custom_function and a custom VJP.
The forward weights slowly rotate towards those constant matrices; the angle
between them is printed as `align_deg` (90 = unrelated, lower = aligned).

Learning rate: linear warm-up from exactly 0.0 over the first 150 steps, then
cosine decay.  Step 1 therefore does not move the weights.
"""

import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)
N_FEAT, H1, H2 = 8, 64, 48
NOISE_SD = 0.15
STEPS = 2400
BATCH = 64

# ---- synthetic data from a random "plant" network plus noise ----
tw1 = rng.normal(0, 1.0 / math.sqrt(N_FEAT), (N_FEAT, 32))
tw2 = rng.normal(0, 1.0 / math.sqrt(32), (32, 1))


def plant(x):
    return np.tanh(x @ tw1) @ tw2 * 2.0 + 0.5 * x[:, :1] ** 2


x_all = rng.normal(0, 1, (9000, N_FEAT)).astype(np.float32)
y_all = (plant(x_all) + rng.normal(0, NOISE_SD, (9000, 1))).astype(np.float32)
x_tr, y_tr = x_all[:7500], y_all[:7500]
x_te, y_te = x_all[7500:], y_all[7500:]

mean_mse = float(((y_te - y_tr.mean()) ** 2).mean())
xa = np.concatenate([x_tr, np.ones((len(x_tr), 1), np.float32)], 1)
coef = np.linalg.lstsq(xa, y_tr, rcond=None)[0]
xb = np.concatenate([x_te, np.ones((len(x_te), 1), np.float32)], 1)
linear_mse = float(((xb @ coef - y_te) ** 2).mean())


@mx.custom_function
def fa_dense(x, w, b, back):
    return x @ w.T + b


@fa_dense.vjp
def fa_dense_vjp(primals, cotangent, output):
    x, w, b, back = primals
    g = cotangent
    return g @ back, g.T @ x, mx.sum(g, axis=0), mx.zeros_like(back)


class FADense(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        scale = 1.0 / math.sqrt(d_in)
        self.weight = mx.random.uniform(-scale, scale, (d_out, d_in))
        self.bias = mx.zeros((d_out,))
        self._back = mx.random.uniform(-scale, scale, (d_out, d_in))

    def __call__(self, x):
        return fa_dense(x, self.weight, self.bias, self._back)

    def align_deg(self):
        a = self.weight.reshape(-1)
        b = self._back.reshape(-1)
        cos = mx.sum(a * b) / (mx.linalg.norm(a) * mx.linalg.norm(b))
        return math.degrees(math.acos(max(-1.0, min(1.0, cos.item()))))


class FrostFanNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.d1 = FADense(N_FEAT, H1)
        self.d2 = FADense(H1, H2)
        self.d3 = FADense(H2, 1)

    def __call__(self, x):
        h = mx.tanh(self.d1(x))
        h = mx.tanh(self.d2(h))
        return self.d3(h)


mx.random.seed(3)
model = FrostFanNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in nn.utils.tree_flatten(model.trainable_parameters()))


def mse(model, x, y):
    return mx.mean((model(x) - y) ** 2)


schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-2, 150), optim.cosine_decay(2e-2, STEPS - 150, 1e-4)],
    [150],
)
opt = optim.SGD(learning_rate=schedule, momentum=0.9)
loss_and_grad = nn.value_and_grad(model, mse)

print(f"frost-fan demand | features {N_FEAT} | trainable params {n_params}")
print(f"baselines on test: predict-mean {mean_mse:.4f}  linear {linear_mse:.4f}  "
      f"noise floor {NOISE_SD ** 2:.4f}")

xt, yt = mx.array(x_te), mx.array(y_te)
w_first = np.array(model.d1.weight)
t0 = time.time()
for step in range(1, STEPS + 1):
    idx = rng.integers(0, len(x_tr), BATCH)
    lr_now = schedule(opt.step).item()
    loss, grads = loss_and_grad(model, mx.array(x_tr[idx]), mx.array(y_tr[idx]))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1:
        moved = float(np.abs(np.array(model.d1.weight) - w_first).max())
        print(f"step 1 lr {lr_now:.1e} batch_mse {loss.item():.4f} max|dW1| {moved:.1e}")
    if step in (150,) or step % 400 == 0:
        test = mse(model, xt, yt).item()
        print(
            f"step {step:5d} lr {lr_now:.2e} batch_mse {loss.item():.4f} test_mse {test:.4f} "
            f"align_deg d2 {model.d2.align_deg():5.1f} d3 {model.d3.align_deg():5.1f} "
            f"({time.time() - t0:.1f}s)"
        )

final = mse(model, xt, yt).item()
print(f"done: test_mse {final:.4f} vs linear {linear_mse:.4f} vs predict-mean {mean_mse:.4f}")
