"""Bicycle wheel truing stand: predict lateral rim runout (mm) at 36 spoke
positions from the 36 measured spoke-tension deviations of a wheel.

The training table is simulated first: every wheel's rim is relaxed to its
equilibrium shape with a Gauss-Seidel solver, one wheel at a time.  That is
slow and runs before the first training step.  The train step is compiled,
so step 1 also pays for the trace and kernel build.
"""
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

T0 = time.perf_counter()
N_SPOKES = 36
N_WHEELS = 1800
N_VALID = 300
SWEEPS = 60


def relax_rim(tension_dev, side, sweeps=SWEEPS):
    """Equilibrium lateral offset of a ring on elastic spokes (Gauss-Seidel)."""
    force = side * tension_dev * 0.9
    u = np.zeros(N_SPOKES)
    k_bend, k_spoke = 1.6, 1.0
    for _ in range(sweeps):
        for i in range(N_SPOKES):
            left = u[i - 1]
            right = u[(i + 1) % N_SPOKES]
            u[i] = (force[i] + k_bend * (left + right)) / (2 * k_bend + k_spoke)
    return 1.4 * np.tanh(u / 1.4)  # rim saturates against the brake track


def build_table(rng):
    side = np.where(np.arange(N_SPOKES) % 2 == 0, 1.0, -1.0)  # drive / non-drive
    X = np.empty((N_WHEELS, N_SPOKES), np.float32)
    Y = np.empty((N_WHEELS, N_SPOKES), np.float32)
    for w in range(N_WHEELS):
        dev = rng.normal(0.0, 0.35, N_SPOKES)
        dev[rng.integers(N_SPOKES)] += rng.normal(0.0, 1.0)  # one badly tensioned spoke
        Y[w] = relax_rim(dev, side)
        X[w] = dev + rng.normal(0.0, 0.03, N_SPOKES)  # tensiometer reading noise
    return X, Y


class RimNet(nn.Module):
    def __init__(self, width=160):
        super().__init__()
        self.inp = nn.Linear(2 * N_SPOKES, width)
        self.hid = nn.Linear(width, width)
        self.out = nn.Linear(width, N_SPOKES)

    def __call__(self, tension, side):
        x = mx.concatenate([tension, tension * side], axis=-1)
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.hid(h))
        return self.out(h)


def main():
    rng = np.random.default_rng(385)
    mx.random.seed(385)
    print("truing stand: simulating %d wheels (%d Gauss-Seidel sweeps each) ..." % (N_WHEELS, SWEEPS), flush=True)
    t = time.perf_counter()
    X, Y = build_table(rng)
    prep_s = time.perf_counter() - t
    print(f"table ready: {X.shape[0]} wheels x {X.shape[1]} spokes in {prep_s:.1f}s", flush=True)

    Xtr, Ytr = mx.array(X[:-N_VALID]), mx.array(Y[:-N_VALID])
    Xva, Yva = mx.array(X[-N_VALID:]), mx.array(Y[-N_VALID:])
    side = mx.array(np.where(np.arange(N_SPOKES) % 2 == 0, 1.0, -1.0).astype(np.float32))
    zero_rms = float(mx.sqrt(mx.mean(Yva**2)))
    print(f"baseline (true wheel, predict 0 mm): valid runout rms {zero_rms:.4f} mm")

    model = RimNet()
    mx.eval(model.parameters())
    steps, warm = 900, 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, steps - warm, 1e-5)], [warm]
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-2)

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x, side), y)

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    def valid_rms():
        pred = model(Xva, side)
        return float(mx.sqrt(mx.mean((pred - Yva) ** 2)))

    print(f"untrained valid rms {valid_rms():.4f} mm")
    ntr = Xtr.shape[0]
    bs = 64
    window, wt = [], time.perf_counter()
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, ntr, bs))
        lr_used = float(sched(mx.array(it - 1)))
        ts = time.perf_counter()
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.parameters(), opt.state)
        ms = 1000 * (time.perf_counter() - ts)
        window.append(loss.item())
        if it <= 4:
            print(f"step {it:5d}  lr {lr_used:.2e}  mse {window[-1]:.5f}  {ms:8.1f} ms/step")
        if it % 150 == 0:
            avg_ms = 1000 * (time.perf_counter() - wt) / 150
            print(
                f"step {it:5d}  lr {lr_used:.2e}  mse(150) {np.mean(window):.5f}  "
                f"valid rms {valid_rms():.4f} mm  {avg_ms:6.2f} ms/step"
            )
            window, wt = [], time.perf_counter()

    final = valid_rms()
    print(f"done: valid runout rms {final:.4f} mm vs predict-0 {zero_rms:.4f} mm "
          f"({100 * (1 - final / zero_rms):.1f}% lower); wall {time.perf_counter() - T0:.1f}s")


if __name__ == "__main__":
    main()
