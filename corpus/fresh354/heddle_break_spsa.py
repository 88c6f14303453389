"""Weaving shed: probability that a warp end breaks in the next 1000 picks, from
8 synthetic loom readings, for a model that will run on a loom controller with
weights stored on a 4-bit grid (step 1/8, range [-1, 1)).

The forward pass rounds every weight to that grid, so the gradient of the
objective w.r.t. the stored weights is zero almost everywhere. The weights are
therefore trained with SPSA (Rademacher +/-1 perturbations, Spall gains
a_k = a / (k + 1 + A)^0.602, c_k = c / (k + 1)^0.101). The gain sequence is
restarted every 700 iterations (k back to 0), which shows as a short bump.

Reported objective: mean Bernoulli log-likelihood per reading (negative; higher
is better), beside a float logistic-regression reference trained with Adam and
the constant base-rate predictor.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim

t0 = time.time()
rng = np.random.default_rng(3540)
D, H = 8, 6
names = ["tension", "humidity", "speed", "sizing", "yarn_age", "shed_open", "temp", "reed_wear"]


def readings(n):
    x = rng.normal(0.0, 1.0, size=(n, D)).astype(np.float32)
    z = (0.9 * x[:, 0] - 0.7 * x[:, 1] + 0.6 * x[:, 2] * (x[:, 0] > 0) + 0.5 * np.abs(x[:, 7])
         - 0.4 * x[:, 3] - 1.2)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * z))).astype(np.float32)
    return mx.array(x), mx.array(y)


xtr, ytr = readings(6000)
xva, yva = readings(3000)
base = ytr.mean().item()


def loglik(p, y):
    p = mx.clip(p, 1e-6, 1 - 1e-6)
    return (y * mx.log(p) + (1 - y) * mx.log(1 - p)).mean()


base_ll = loglik(mx.full(yva.shape, base), yva).item()
print(f"break rate {base:.3f}; base-rate predictor val loglik {base_ll:.4f}")

# ---- reference: float model trained with gradients (not deployable) ----
w_ref = {"w1": mx.random.normal((D, H), key=mx.random.key(1)) * 0.3, "b1": mx.zeros((H,)),
         "w2": mx.random.normal((H,), key=mx.random.key(2)) * 0.3, "b2": mx.zeros(())}


def forward(w, x):
    h = mx.maximum(x @ w["w1"] + w["b1"], 0.0)
    return mx.sigmoid(h @ w["w2"] + w["b2"])


ref_opt = optim.Adam(learning_rate=1e-2)
ref_vg = mx.value_and_grad(lambda w: -loglik(forward(w, xtr), ytr))
for _ in range(400):
    _, g = ref_vg(w_ref)
    w_ref = ref_opt.apply_gradients(g, w_ref)
    mx.eval(w_ref)
ref_ll = loglik(forward(w_ref, xva), yva).item()
print(f"float reference (Adam, 400 steps) val loglik {ref_ll:.4f}")

# ---- deployable model: weights on the 4-bit grid ----
GRID = 8.0


def quantize(w):
    return {k: mx.clip(mx.round(v * GRID), -GRID, GRID - 1) / GRID for k, v in w.items()}


def objective(w, x, y):  # to maximise
    return loglik(forward(quantize(w), x), y)


w = {"w1": mx.random.normal((D, H), key=mx.random.key(5)) * 0.3, "b1": mx.zeros((H,)),
     "w2": mx.random.normal((H,), key=mx.random.key(6)) * 0.3, "b2": mx.zeros(())}
g0 = mx.grad(lambda w: -objective(w, xtr, ytr))(w)
print("autodiff gradient norm through the grid rounding: "
      f"{sum(mx.sum(v * v).item() for v in g0.values()) ** 0.5:.1f}")

a, A, c, restart = 0.6, 50, 0.12, 700
iters = 2800
key = mx.random.key(77)
print(f"iter     k  a_k       c_k     train loglik  val loglik  val acc")
for it in range(iters):
    k = it % restart
    a_k = a / (k + 1 + A) ** 0.602
    c_k = c / (k + 1) ** 0.101
    key, sub, bkey = mx.random.split(key, 3)
    bidx = mx.random.randint(0, xtr.shape[0], (512,), key=bkey)
    xb, yb = xtr[bidx], ytr[bidx]
    subkeys = mx.random.split(sub, len(w))
    delta = {name: mx.where(mx.random.bernoulli(0.5, v.shape, key=subkeys[i]), 1.0, -1.0)
             for i, (name, v) in enumerate(sorted(w.items()))}
    f_plus = objective({n: w[n] + c_k * delta[n] for n in w}, xb, yb)
    f_minus = objective({n: w[n] - c_k * delta[n] for n in w}, xb, yb)
    slope = (f_plus - f_minus) / (2 * c_k)
    w = {n: mx.clip(w[n] + a_k * slope * delta[n], -1.0, 1.0) for n in w}  # ascent
    mx.eval(w)
    if it % 350 == 0 or it == iters - 1:
        tr = objective(w, xtr, ytr).item()
        wq = quantize(w)
        pv = forward(wq, xva)
        acc = ((pv > 0.5).astype(mx.float32) == yva).astype(mx.float32).mean().item()
        print(f"{it:4d}  {k:4d}  {a_k:.4f}  {c_k:.4f}  {tr:12.4f}  {objective(w, xva, yva).item():10.4f}  {acc:.3f}")

wq = quantize(w)
levels = sorted(set(np.round(np.concatenate([np.array(v).ravel() for v in wq.values()]) * GRID).astype(int).tolist()))
final_ll = objective(w, xva, yva).item()
print(f"grid levels in use: {levels}")
print(f"[result] val loglik: base-rate {base_ll:.4f} | 4-bit SPSA {final_ll:.4f} | float reference {ref_ll:.4f}")
print(f"done in {time.time() - t0:.1f}s")
