"""Estimate R and C of a series RLC circuit (inductor L is a known rated part) from recorded capacitor-voltage step responses
by differentiating through an unrolled RK4 simulation of the circuit (system identification)."""
import datetime as dt
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

DT = 0.0125
N_STEPS = 128
SOURCES = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0]          # step source voltages, one recording each
TRUE = {"R": 2.0, "L": 0.5, "C": 0.05}


def rk4_rollout(r, l, c, v_src):
    """v_src: (B,) source voltages. Returns capacitor voltage trace (B, N_STEPS)."""
    q = mx.zeros_like(v_src)
    i = mx.zeros_like(v_src)

    def f(q, i):
        return i, (v_src - r * i - q / c) / l

    out = []
    for _ in range(N_STEPS):
        k1q, k1i = f(q, i)
        k2q, k2i = f(q + 0.5 * DT * k1q, i + 0.5 * DT * k1i)
        k3q, k3i = f(q + 0.5 * DT * k2q, i + 0.5 * DT * k2i)
        k4q, k4i = f(q + DT * k3q, i + DT * k3i)
        q = q + DT / 6.0 * (k1q + 2 * k2q + 2 * k3q + k4q)
        i = i + DT / 6.0 * (k1i + 2 * k2i + 2 * k3i + k4i)
        out.append(q / c)
    return mx.stack(out, axis=1)


class Circuit(nn.Module):
    def __init__(self):
        super().__init__()
        # log-parametrised so R, L, C stay positive; deliberately poor initial guess
        self.log_r = mx.array(math.log(1.0))
        self.log_c = mx.array(math.log(0.1))

    def values(self):
        return mx.exp(self.log_r), mx.array(TRUE["L"]), mx.exp(self.log_c)

    def __call__(self, v_src):
        return rk4_rollout(*self.values(), v_src)


def stamp():
    return dt.datetime.now().isoformat(timespec="milliseconds")


def main():
    mx.random.seed(3)
    rng = np.random.default_rng(3)
    v_src = mx.array(np.array(SOURCES, dtype=np.float32))
    clean = rk4_rollout(mx.array(TRUE["R"]), mx.array(TRUE["L"]), mx.array(TRUE["C"]), v_src)
    noise_sd = 0.02
    measured = clean + mx.array(rng.normal(0, noise_sd, size=clean.shape).astype(np.float32))
    mx.eval(measured)

    model = Circuit()
    scale = float(np.mean(SOURCES))

    def loss_fn(model, v_src, meas):
        pred = model(v_src)
        return mx.mean(mx.square((pred - meas) / scale))

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    sched = optim.exponential_decay(0.05, 0.996)
    opt = optim.Adam(learning_rate=sched)

    # preflight: every parameter leaf must receive a gradient
    _, g0 = loss_and_grad(model, v_src, measured)
    zero = [k for k, v in tree_flatten(g0) if float(mx.max(mx.abs(v))) == 0.0]
    print(f"# {stamp()} logbook opened: {len(tree_flatten(g0))} parameter leaves, "
          f"zero-gradient leaves: {zero or 'none'}")
    print(f"# noise floor (rms, V): {noise_sd:.4f}")
    print(f"# {'timestamp':<23}  {'iter':>5}  {'rms err V':>9}  {'R ohm':>7}  {'L H fix':>7}  {'C F':>8}  {'lr':>8}")

    t0 = time.time()
    iters = 300
    for it in range(1, iters + 1):
        loss, grads = loss_and_grad(model, v_src, measured)
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        if it == 1 or it % 25 == 0:
            r, l, c = (v.item() for v in model.values())
            rms_v = math.sqrt(loss.item()) * scale
            print(f"  {stamp():<23}  {it:>5}  {rms_v:>9.4f}  {r:>7.4f}  {l:>7.4f}  {c:>8.5f}  "
                  f"{opt.learning_rate.item():>8.2e}")

    r, l, c = (v.item() for v in model.values())
    print(f"# {stamp()} closed after {time.time() - t0:.1f}s")
    print(f"# {'param':<5} {'true':>8} {'fitted':>8} {'rel err':>8}")
    for name, val in zip("RC", (r, c)):
        print(f"# {name:<5} {TRUE[name]:>8.4f} {val:>8.4f} {abs(val - TRUE[name]) / TRUE[name]:>8.2%}")
    w0 = 1 / math.sqrt(l * c)
    print(f"# fitted natural frequency {w0:.3f} rad/s (true {1 / math.sqrt(TRUE['L'] * TRUE['C']):.3f})")


if __name__ == "__main__":
    main()
