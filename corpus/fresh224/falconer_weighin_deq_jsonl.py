"""Falconer's mews log: predict tomorrow's weigh-in change of a hawk (grams)
from today's log, with a small deep-equilibrium (DEQ) layer.

The equilibrium z* = tanh(W z* + U x + b) is found by fixed-point iteration and
differentiated implicitly through an mx.custom_function whose VJP solves the
adjoint fixed point. Each epoch the implicit gradient is audited against a
plain unrolled-autodiff gradient. Output is JSON lines.
"""
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N, D, H = 4000, 6, 32
# ration_g, casting_flag, night_temp_C, flights_yesterday, moult_stage(0-1), humidity_%
X = np.column_stack([
    rng.uniform(40, 140, N), rng.integers(0, 2, N), rng.normal(8, 6, N),
    rng.poisson(3, N), rng.uniform(0, 1, N), rng.uniform(35, 95, N)]).astype(np.float32)
delta_g = (0.55 * (X[:, 0] - 85) - 6.0 * X[:, 1] - 0.9 * np.minimum(X[:, 2], 12)
           - 4.0 * X[:, 3] + 9.0 * np.sin(math.pi * X[:, 4]) + 0.06 * (X[:, 5] - 65)
           + 0.004 * (X[:, 0] - 85) * X[:, 3] + rng.normal(0, 3.0, N)).astype(np.float32)
mu, sd = X[:2800].mean(0), X[:2800].std(0)
Xs = (X - mu) / sd
y_mu, y_sd = delta_g[:2800].mean(), delta_g[:2800].std()
ys = (delta_g - y_mu) / y_sd
Xtr, ytr = mx.array(Xs[:2800]), mx.array(ys[:2800])
Xva, yva = mx.array(Xs[2800:]), mx.array(ys[2800:])

FWD_ITERS, ADJ_ITERS = 50, 50


def cell(z, x, W, U, b):
    return mx.tanh(z @ W.T + x @ U.T + b)


@mx.custom_function
def equilibrium(x, W, U, b):
    z = mx.zeros((x.shape[0], W.shape[0]))
    for _ in range(FWD_ITERS):
        z = cell(z, x, W, U, b)
    return z


@equilibrium.vjp
def equilibrium_vjp(primals, cotangent, output):
    x, W, U, b = primals
    z_star = mx.stop_gradient(output)
    g = cotangent
    for _ in range(ADJ_ITERS):  # g = cot + J_z^T g
        _, (jt_g,) = mx.vjp(lambda z: cell(z, x, W, U, b), [z_star], [g])
        g = cotangent + jt_g
    _, grads = mx.vjp(lambda x_, W_, U_, b_: cell(z_star, x_, W_, U_, b_), [x, W, U, b], [g])
    return tuple(grads)


def contractive(W_raw):
    # Frobenius norm bounds the spectral norm, so ||W|| <= 0.8 keeps the map contractive.
    return 0.8 * W_raw / mx.maximum(mx.sqrt((W_raw * W_raw).sum()), 1.0)


def predict(p, x, implicit=True):
    W = contractive(p["W_raw"])
    if implicit:
        z = equilibrium(x, W, p["U"], p["b"])
    else:
        z = mx.zeros((x.shape[0], H))
        for _ in range(FWD_ITERS):
            z = cell(z, x, W, p["U"], p["b"])
    return (z @ p["head_w"] + p["head_b"]).squeeze(-1)


def mse(p, x, y, implicit=True):
    return ((predict(p, x, implicit) - y) ** 2).mean()


mx.random.seed(5)
params = {
    "W_raw": mx.random.normal((H, H)) * 0.3,
    "U": mx.random.normal((H, D)) * (1.0 / math.sqrt(D)),
    "b": mx.zeros((H,)),
    "head_w": mx.random.normal((H, 1)) * (1.0 / math.sqrt(H)),
    "head_b": mx.zeros((1,)),
}

EPOCHS, BS = 14, 100
steps_per_epoch = 2800 // BS
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, total - warm, 1e-4)], [warm])
opt = optim.Adam(learning_rate=schedule)
grad_fn = mx.value_and_grad(mse)

baseline = float(np.sqrt(((delta_g[2800:] - y_mu) ** 2).mean()))
print(json.dumps({"event": "start", "rows_train": 2800, "rows_val": 1200, "hidden": H,
                  "fwd_iters": FWD_ITERS, "baseline_val_rmse_g": round(baseline, 3)}))

# every parameter must receive gradient
_, g0 = grad_fn(params, Xtr[:BS], ytr[:BS])
print(json.dumps({"event": "grad_check", **{k: float(mx.abs(v).sum()) for k, v in tree_flatten(g0)}}))

t0 = time.time()
step = 0
for epoch in range(1, EPOCHS + 1):
    order = mx.array(rng.permutation(2800))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = order[i * BS:(i + 1) * BS]
        lr_now = float(schedule(step))
        loss, grads = grad_fn(params, Xtr[idx], ytr[idx])
        params = opt.apply_gradients(grads, params)
        mx.eval(params, opt.state, loss)
        run += loss.item()
        step += 1
        if step == 1:
            print(json.dumps({"event": "step", "step": 1, "lr": lr_now, "loss": round(loss.item(), 5)}))
    # audit: implicit adjoint gradient vs unrolled autodiff on a fixed slice
    gi = mx.grad(mse)(params, Xva[:200], yva[:200], True)
    gu = mx.grad(mse)(params, Xva[:200], yva[:200], False)
    diffs = {k: float(mx.abs(gi[k] - gu[k]).max()) for k in ("W_raw", "U", "b")}
    rel = float(mx.sqrt(sum(((gi[k] - gu[k]) ** 2).sum() for k in gi)) /
                mx.sqrt(sum((gu[k] ** 2).sum() for k in gu)))
    W = contractive(params["W_raw"])
    z = equilibrium(Xva, W, params["U"], params["b"])
    resid = float(mx.abs(cell(z, Xva, W, params["U"], params["b"]) - z).max())
    val_rmse_g = float(mx.sqrt(mse(params, Xva, yva))) * float(y_sd)
    print(json.dumps({"event": "epoch", "epoch": epoch, "lr": round(float(opt.learning_rate), 6),
                      "train_mse_std": round(run / steps_per_epoch, 5),
                      "val_rmse_g": round(val_rmse_g, 3), "baseline_val_rmse_g": round(baseline, 3),
                      "fixed_point_residual": resid, "audit_max_abs_diff": diffs,
                      "audit_rel_norm_diff": rel}))
print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 2)}))
