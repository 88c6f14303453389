# Rock-pool warming at low tide: 10/50/90% quantiles of the water-temperature
# rise (deg C) during emersion. Frozen random-Fourier-feature front end, a
# pinball loss with a hand-written VJP, compiled train step, JSON-lines log.
import json
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(2136)


def simulate(n):
    vol_l = np.exp(rng.uniform(np.log(5), np.log(500), n))
    shade = rng.uniform(0, 1, n)
    air_c = rng.uniform(5, 30, n)
    elev = np.radians(rng.uniform(0, 60, n))
    expo_min = rng.uniform(30, 300, n)
    wind = rng.uniform(0, 12, n)
    sun = np.sin(elev) * (1 - shade)
    mean = ((air_c - 12) * 0.15 + 4.0 * sun * (expo_min / 120) / (np.log(vol_l) / 2)
            - 0.08 * wind * expo_min / 120)
    sd = 0.3 + 0.6 * sun
    dT = mean + sd * rng.standard_normal(n)
    X = np.stack([np.log(vol_l), shade, air_c, np.degrees(elev), expo_min, wind], 1)
    return X.astype(np.float32), dT.astype(np.float32)


Xtr, ytr = simulate(4000)
Xte, yte = simulate(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = mx.array((Xtr - mu) / sd), mx.array((Xte - mu) / sd)
ytr, yte = mx.array(ytr), mx.array(yte)
TAUS = mx.array([0.1, 0.5, 0.9])


@mx.custom_function
def pinball(q, y, taus):
    r = y[:, None] - q
    return mx.mean(mx.maximum(taus * r, (taus - 1.0) * r))


@pinball.vjp
def pinball_vjp(primals, cotangent, output):
    q, y, taus = primals
    r = y[:, None] - q
    dq = -(taus - (r < 0).astype(q.dtype)) / q.size
    return cotangent * dq, mx.zeros_like(y), mx.zeros_like(taus)


def pinball_plain(q, y, taus):
    r = y[:, None] - q
    return mx.mean(mx.maximum(taus * r, (taus - 1.0) * r))


class QuantileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(6, 64)
        self.hidden = nn.Linear(64, 32)
        self.head = nn.Linear(32, 3)

    def __call__(self, x):
        h = mx.cos(self.rff(x) * 1.5)
        h = nn.gelu(self.hidden(h))
        a, b, c = mx.split(self.head(h), 3, axis=-1)
        return mx.concatenate([a - nn.softplus(b), a, a + nn.softplus(c)], axis=-1)


mx.random.seed(7)
model = QuantileNet()
model.rff.freeze()  # random Fourier features stay fixed on purpose
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return pinball(m(xb), yb, TAUS)


# audit the hand-written VJP against autograd on one batch
q0 = model(Xtr[:256])
g_custom = mx.grad(pinball)(q0, ytr[:256], TAUS)
g_auto = mx.grad(pinball_plain)(q0, ytr[:256], TAUS)
print(f"vjp audit: max|custom-auto| = {mx.abs(g_custom - g_auto).max().item():.2e}, "
      f"|grad| = {mx.sqrt((g_auto ** 2).sum()).item():.3e}")
_, g = nn.value_and_grad(model, loss_fn)(model, Xtr[:256], ytr[:256])
flat = tree_flatten(g)
print("grad audit: " + ", ".join(f"{k}={mx.abs(v).sum().item():.3g}" for k, v in flat)
      + f"  (frozen: rff.weight, rff.bias)")

opt = optim.RMSprop(learning_rate=3e-3)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


STEPS, BATCH, LOG_EVERY = 1500, 128, 250
run = 0.0
for step in range(1, STEPS + 1):
    idx = mx.random.randint(0, Xtr.shape[0], (BATCH,))
    loss = train_step(Xtr[idx], ytr[idx])
    mx.eval(state, loss)
    run += loss.item()
    if step % LOG_EVERY == 0:
        q = model(Xte)
        inside = mx.logical_and(yte >= q[:, 0], yte <= q[:, 2]).astype(mx.float32)
        rec = {
            "step": step,
            "pinball_train": round(run / LOG_EVERY, 4),
            "pinball_test": round(pinball_plain(q, yte, TAUS).item(), 4),
            "cov80_pct": round(100 * inside.mean().item(), 1),
            "nominal_pct": 80.0,
            "median_mae_C": round(mx.abs(q[:, 1] - yte).mean().item(), 3),
            "band_width_C": round((q[:, 2] - q[:, 0]).mean().item(), 3),
        }
        print(json.dumps(rec))
        run = 0.0

base = pinball_plain(mx.broadcast_to(mx.array([[float(np.quantile(np.array(ytr), t)) for t in (0.1, 0.5, 0.9)]]),
                                     (Xte.shape[0], 3)), yte, TAUS).item()
final = pinball_plain(model(Xte), yte, TAUS).item()
print(json.dumps({"summary": "done", "pinball_test": round(final, 4),
                  "pinball_unconditional_quantiles": round(base, 4)}))
