"""Sugarhouse evaporator: online draw-off density model.

Every few seconds the evaporator logs six readings and, a moment later, the
hydrometer gives the density (deg Brix) of the syrup drawn off.  The model
sees each reading once, in order: it predicts first (that prediction is what
we score), then takes one Adam step on the newest eight draws.

When a new sap batch reaches the front pan the relationship between the
readings and the density shifts.  A Page-Hinkley test on the absolute
prediction error notices this; we then start a fresh Adam and ramp the
learning rate up again from 0 over 50 draws.
"""

import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SEED = 11
N_STEPS = 3000
WINDOW = 8
PEAK_LR = 3e-3
WARMUP = 50
LOG_EVERY = 250
BRIX_CENTRE = 66.5

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

# readings: sap brix in, flue temp (C), front-pan depth (cm), boil rate (L/h),
# float-valve flow (L/min), sugarhouse air temp (C); scaled with constant ranges
LOW = np.array([1.5, 650.0, 2.0, 150.0, 1.0, -5.0], dtype=np.float32)
HIGH = np.array([3.5, 950.0, 6.0, 450.0, 6.0, 15.0], dtype=np.float32)

# three sap batches, each with its own made-up response law
LAWS = [
    dict(w=np.array([0.9, 0.6, -0.5, 0.3, -0.4, 0.1]), curve=0.35, bias=0.2),
    dict(w=np.array([0.4, 0.9, -0.2, 0.6, -0.7, 0.0]), curve=-0.25, bias=-0.6),
    dict(w=np.array([1.1, 0.2, -0.8, 0.1, -0.2, 0.3]), curve=0.5, bias=0.5),
]
CHANGE_AT = [1000, 2000]
NOISE = 0.06


def make_stream():
    raw = LOW + (HIGH - LOW) * rng.random((N_STEPS, 6), dtype=np.float32)
    # readings drift slowly within a batch, like a real boil
    for j in range(6):
        walk = np.cumsum(rng.normal(0.0, 0.01, N_STEPS))
        raw[:, j] = np.clip(raw[:, j] + walk * (HIGH[j] - LOW[j]), LOW[j], HIGH[j])
    z = 2.0 * (raw - LOW) / (HIGH - LOW) - 1.0
    y = np.empty(N_STEPS, dtype=np.float32)
    for t in range(N_STEPS):
        k = sum(t >= c for c in CHANGE_AT)
        law = LAWS[k]
        lin = float(z[t] @ law["w"])
        y[t] = BRIX_CENTRE + law["bias"] + lin + law["curve"] * z[t, 0] * z[t, 1]
    y += rng.normal(0.0, NOISE, N_STEPS).astype(np.float32)
    return z.astype(np.float32), y


class DrawOffNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class PageHinkley:
    def __init__(self, delta=0.02, threshold=6.0, burn_in=60):
        self.delta, self.threshold, self.burn_in = delta, threshold, burn_in
        self.reset()

    def reset(self):
        self.n, self.mean, self.cum, self.cum_min = 0, 0.0, 0.0, 0.0

    def update(self, err):
        self.n += 1
        self.mean += (err - self.mean) / self.n
        self.cum += err - self.mean - self.delta
        self.cum_min = min(self.cum_min, self.cum)
        return self.n > self.burn_in and (self.cum - self.cum_min) > self.threshold


def main():
    t0 = time.time()
    z, y = make_stream()
    y_scaled = y - BRIX_CENTRE

    model = DrawOffNet()
    mx.eval(model.parameters())
    grad_fn = nn.value_and_grad(model, loss_fn)

    def fresh_optimizer():
        return optim.Adam(learning_rate=0.0)

    optimizer = fresh_optimizer()
    detector = PageHinkley()
    since_reset = 0
    alarms = []
    abs_err = np.zeros(N_STEPS)
    base_err = np.zeros(N_STEPS)

    print(f"stream of {N_STEPS} draws, window {WINDOW}, peak lr {PEAK_LR}, warmup {WARMUP}")
    for t in range(N_STEPS):
        x_t = mx.array(z[t : t + 1])
        pred = model(x_t).item() + BRIX_CENTRE
        abs_err[t] = abs(pred - y[t])
        base_err[t] = abs(y[t - 1] - y[t]) if t > 0 else abs(BRIX_CENTRE - y[t])

        if detector.update(abs_err[t]):
            alarms.append(t)
            print(f"[alarm] draw {t}: error level shifted, fresh Adam and warmup restart")
            optimizer = fresh_optimizer()
            detector.reset()
            since_reset = 0

        lr = PEAK_LR * min(1.0, since_reset / WARMUP)
        optimizer.learning_rate = lr
        lo = max(0, t - WINDOW + 1)
        xb = mx.array(z[lo : t + 1])
        yb = mx.array(y_scaled[lo : t + 1])
        loss, grads = grad_fn(model, xb, yb)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        since_reset += 1

        if (t + 1) % LOG_EVERY == 0:
            s = slice(t + 1 - LOG_EVERY, t + 1)
            print(
                f"draw {t + 1:5d} | window MAE {abs_err[s].mean():.4f} Brix"
                f" | persistence MAE {base_err[s].mean():.4f}"
                f" | lr {lr:.2e} | window mse {loss.item():.5f}"
            )

    print("alarms at draws:", alarms)
    edges = [0] + CHANGE_AT + [N_STEPS]
    for k in range(3):
        a, b = edges[k], edges[k + 1]
        late = slice(b - 250, b)
        first = slice(a, a + 50)
        print(
            f"batch {k}: first 50 draws MAE {abs_err[first].mean():.4f}"
            f" | last 250 draws MAE {abs_err[late].mean():.4f}"
            f" vs persistence {base_err[late].mean():.4f}"
        )
    print(f"noise floor (sd) {NOISE:.3f}, expected MAE at floor ~{NOISE * 0.798:.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
