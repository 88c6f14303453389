# Bell foundry: a fast surrogate for a slow strike-note calculator.
# The calculator is deterministic, so the surrogate can interpolate it (optimal loss 0),
# which lets us use a Polyak step size (SPS_max) written by hand instead of mlx.optimizers.
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten, tree_map, tree_reduce

mx.random.seed(11)
rng = np.random.default_rng(11)

# six profile measurements -> four partial offsets (hum, prime, tierce, nominal) in cents / 100
N_IN, N_OUT = 6, 4
calc = nn.Sequential(nn.Linear(N_IN, 24), nn.Tanh(), nn.Linear(24, N_OUT))
calc.freeze()
mx.eval(calc.parameters())

X_train = mx.array(rng.uniform(-1, 1, size=(3000, N_IN)).astype(np.float32))
X_valid = mx.array(rng.uniform(-1, 1, size=(600, N_IN)).astype(np.float32))
Y_train, Y_valid = calc(X_train), calc(X_valid)
mx.eval(Y_train, Y_valid)


class Surrogate(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_IN, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, N_OUT)
        )

    def __call__(self, x):
        return self.body(x)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class PolyakSGD:
    """SPS_max: step = min((f - f_star) / (c * |g|^2), gamma_max), gamma_max smoothed upward."""

    def __init__(self, c=0.5, f_star=0.0, gamma_init=0.05, gamma_cap=20.0, growth=1.002):
        self.c, self.f_star = c, f_star
        self.gamma_max, self.gamma_cap, self.growth = gamma_init, gamma_cap, growth
        self.last_step = 0.0

    def update(self, model, loss, grads):
        gsq = tree_reduce(lambda acc, g: acc + mx.sum(g * g), grads, mx.array(0.0))
        self.gamma_max = min(self.gamma_max * self.growth, self.gamma_cap)
        step = mx.minimum((loss - self.f_star) / (self.c * gsq + 1e-12), self.gamma_max)
        model.update(tree_map(lambda p, g: p - step * g, model.trainable_parameters(), grads))
        return step, mx.sqrt(gsq)


def run(model, opt, steps, batch, start, log_every):
    vg = nn.value_and_grad(model, mse)
    for t in range(start + 1, start + steps + 1):
        idx = mx.array(rng.integers(0, X_train.shape[0], size=batch))
        loss, grads = vg(model, X_train[idx], Y_train[idx])
        step, gnorm = opt.update(model, loss, grads)
        mx.eval(model.parameters(), loss, step, gnorm)
        if t % log_every == 0:
            val = mse(model, X_valid, Y_valid).item()
            print(
                f"{t},{np.log10(loss.item()):.3f},{np.log10(val):.3f},"
                f"{step.item():.4f},{opt.gamma_max:.4f},{gnorm.item():.3e}"
            )
    return start + steps


model = Surrogate()
mx.eval(model.parameters())
vg0 = nn.value_and_grad(model, mse)
_, g0 = vg0(model, X_train[:64], Y_train[:64])
zero = [k for k, g in tree_flatten(g0) if mx.all(g == 0).item()]
print(f"# {len(tree_flatten(g0))} gradient leaves, zero leaves: {zero}")
print(f"# predict-the-mean baseline log10 mse: {np.log10(mx.mean(mx.square(Y_valid - Y_train.mean(0))).item()):.3f}")
print("step,log10_train_mse,log10_valid_mse,polyak_step,gamma_max,grad_norm")

opt = PolyakSGD()
tic = time.perf_counter()
t = run(model, opt, 1200, 64, 0, 100)

# checkpoint, rebuild a fresh surrogate from disk, and keep going
ckpt = os.path.join(tempfile.mkdtemp(), "surrogate.safetensors")
model.save_weights(ckpt)
before = model(X_valid)
model = Surrogate()
model.load_weights(ckpt)
gap = mx.max(mx.abs(model(X_valid) - before)).item()
print(f"# resumed from {os.path.basename(ckpt)} at step {t}, max prediction change {gap:.2e}, gamma_max kept {opt.gamma_max:.3f}")
t = run(model, opt, 1200, 64, t, 100)

val = mse(model, X_valid, Y_valid).item()
print(f"# done in {time.perf_counter() - tic:.1f}s: valid rmse {np.sqrt(val) * 100:.2f} cents over {t} steps")
