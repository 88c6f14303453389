# Celestial navigation: the residual error (arc-minutes) of a noon sight after
# the table corrections, from five things the navigator writes in the log.
# Most of the residual is hand shake and wave, so the reachable mse is high.
# One sight per update, a plain gradient step written by hand, small step size.
import time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map

rng = np.random.default_rng(21)
TRUE_W = np.array([0.30, -0.22, 0.15, 0.0, 0.10])
NOISE = 1.0

def sights(n):
    x = rng.normal(0, 1, (n, 5))   # index-error drift, deck temp, haze, swell, eye height (standardised)
    y = x @ TRUE_W + 0.25 * x[:, 0] * x[:, 2] + rng.normal(0, NOISE, n)
    return x.astype(np.float32), y.astype(np.float32)

xtr, ytr = sights(30000)
xte, yte = sights(5000)
Xte, Yte = mx.array(xte), mx.array(yte)

params = {"w": mx.zeros((5,)), "cross": mx.zeros((5, 5)), "b": mx.zeros((1,))}

def predict(p, x):
    return x @ p["w"] + ((x @ p["cross"]) * x).sum(-1) + p["b"]

def sq_err(p, x, y):
    return ((predict(p, x) - y) ** 2).mean()

grad_fn = mx.value_and_grad(sq_err)
LR = 6e-5

def sgd_step(p, x, y):
    loss, g = grad_fn(p, x, y)
    return loss, tree_map(lambda a, da: a - LR * da, p, g)

sgd_step = mx.compile(sgd_step)

zero_mse = float((yte ** 2).mean())
floor = NOISE ** 2
print("NOON-SIGHT RESIDUAL LOG  (one sight per step, lr %.0e, no momentum)" % LR)
print("  held-out sights: %d   predict-zero mse %.4f   noise floor %.4f" % (len(yte), zero_mse, floor))
print("  %-9s %8s %10s %10s %10s" % ("watch", "sights", "watch mse", "held mse", "above floor"))

WATCHES = ["middle", "morning", "forenoon", "afternoon", "first dog", "last dog", "first", "middle"]
t0 = time.time()
watch_losses = []
order = rng.permutation(len(ytr))
for i, j in enumerate(order):
    loss, params = sgd_step(params, mx.array(xtr[j:j + 1]), mx.array(ytr[j:j + 1]))
    mx.eval(loss, params)
    watch_losses.append(loss.item())
    if (i + 1) % 3750 == 0:
        held = sq_err(params, Xte, Yte).item()
        name = WATCHES[(i + 1) // 3750 - 1]
        print("  %-9s %8d %10.4f %10.4f %+10.4f" % (name[:9], i + 1, np.mean(watch_losses), held, held - floor))
        watch_losses = []

w = np.array(params["w"])
print("  learned w  " + " ".join("%+.3f" % v for v in w))
print("  chart w    " + " ".join("%+.3f" % v for v in TRUE_W))
print("  index x haze cross term %.3f (chart 0.250, split over two cells)"
      % (float(params["cross"][0, 2] + params["cross"][2, 0])))
print("  %.1fs" % (time.time() - t0))
