"""Calibrate six NTC thermistors (Steinhart-Hart) from a stirred-bath calibration run."""
import time
import datetime
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(23)
N_PROBES, N_POINTS = 6, 40
# true coefficients in units of 1e-3/K:  1000/T = a + b*x + c*x^3, x = ln(R / 10k)
true = np.stack([3.3540 + rng.normal(0, 0.004, N_PROBES),
                 0.2565 + rng.normal(0, 0.006, N_PROBES),
                 0.0026 + rng.normal(0, 0.0004, N_PROBES)], axis=1)

bath_c = np.linspace(-20.0, 120.0, N_POINTS)
T_true = bath_c + 273.15
xs = np.zeros((N_PROBES, N_POINTS))
for k in range(N_PROBES):  # invert the cubic for x by Newton
    a, b, c = true[k]
    x = np.zeros(N_POINTS)
    for _ in range(50):
        f = a + b * x + c * x ** 3 - 1000.0 / T_true
        x -= f / (b + 3 * c * x ** 2)
    xs[k] = x
R = 10e3 * np.exp(xs) * (1 + rng.normal(0, 5e-4, xs.shape))      # 0.05 % ohmmeter noise
T_ref = T_true[None, :] + rng.normal(0, 0.02, xs.shape)            # 20 mK reference PRT noise

X = mx.array(np.log(R / 10e3).astype(np.float32))
Y = mx.array((T_ref - 273.15).astype(np.float32))
params = {"abc": mx.array(np.tile([3.30, 0.30, 0.0], (N_PROBES, 1)).astype(np.float32)),
          "lead_ohm": mx.zeros((N_PROBES, 1))}  # series lead resistance, ohms (true 0)


def predict_c(P, x):
    # lead resistance adds to the measured value, so subtract it before the log
    xr = mx.log(mx.maximum(mx.exp(x) - P["lead_ohm"] / 10e3, 1e-6))
    inv = P["abc"][:, 0:1] + P["abc"][:, 1:2] * xr + P["abc"][:, 2:3] * xr ** 3
    return 1000.0 / inv - 273.15


def mse(P, x, y):
    return mx.mean((predict_c(P, x) - y) ** 2)


vg = mx.value_and_grad(mse)
step_fn = mx.compile(vg)
ITERS = 5000
opt = optim.Adam(learning_rate=optim.cosine_decay(0.01, ITERS, 1e-4))

start = datetime.datetime(2026, 4, 14, 9, 30, 0)


def journal(msg, sec):
    stamp = (start + datetime.timedelta(seconds=sec)).strftime("%b %d %H:%M:%S")
    print(f"{stamp} calbench-02 ntc-cal[2291]: {msg}")


journal(f"Bath run loaded: {N_PROBES} probes x {N_POINTS} set points, {bath_c[0]:.0f}..{bath_c[-1]:.0f} C", 0)
_, g = vg(params, X, Y)
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
journal(f"Gradient check: {len(tree_flatten(g))} leaves, zero-gradient leaves={zero}", 0)
journal("Noise floor: reference PRT sigma 0.020 K -> rms ~0.020 K", 0)
t0 = time.time()
for it in range(1, ITERS + 1):
    loss, g = step_fn(params, X, Y)
    params = opt.apply_gradients(g, params)
    mx.eval(params, opt.state, loss)
    if it in (1, 10, 100) or it % 500 == 0:
        err = np.array(predict_c(params, X)) - np.array(Y)
        journal(f"iter={it} rms={np.sqrt(loss.item()):.4f}K worst_probe_max={np.abs(err).max():.4f}K "
                f"lead_ohm_mean={float(params['lead_ohm'].mean()):+.3f} lr={opt.learning_rate.item():.5f}",
                time.time() - t0)
fit = np.array(params["abc"])
for k in range(N_PROBES):
    journal(f"probe NTC{k + 1}: A={fit[k, 0]:.5f}e-3 B={fit[k, 1]:.5f}e-3 C={fit[k, 2]:.6f}e-3 "
            f"(true {true[k, 0]:.5f}/{true[k, 1]:.5f}/{true[k, 2]:.6f}) lead={float(params['lead_ohm'][k, 0]):+.2f} ohm",
            time.time() - t0)
err = np.array(predict_c(params, X)) - np.array(Y)
journal(f"Calibration done: rms={np.sqrt(np.mean(err ** 2)):.4f}K max={np.abs(err).max():.4f}K", time.time() - t0)
journal("ntc-cal.service: Deactivated successfully.", time.time() - t0)
