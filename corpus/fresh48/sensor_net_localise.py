# Sensor-network localisation: recover the 2-D positions of 120 unknown nodes
# in a 100 m x 100 m field from noisy range measurements (node-to-anchor and
# node-to-node), with a hand-written heavy-ball SGD on a plain dict of arrays.
import math

import numpy as np
import mlx.core as mx

rng = np.random.default_rng(11)
FIELD = 100.0
N_NODES = 120
ANCHORS = np.array([[0, 0], [100, 0], [0, 100], [100, 100], [50, 0], [0, 50]], dtype=np.float32)
NOISE_M = 0.5
RADIO_RANGE = 30.0

true_pos = rng.uniform(5, 95, size=(N_NODES, 2)).astype(np.float32)

# every node hears every anchor; node pairs only inside radio range
meas_i, meas_j, meas_anchor, meas_d = [], [], [], []
for i in range(N_NODES):
    for a in range(len(ANCHORS)):
        d = np.linalg.norm(true_pos[i] - ANCHORS[a])
        for _ in range(3):
            meas_i.append(i); meas_j.append(a); meas_anchor.append(1.0)
            meas_d.append(d + rng.normal(0, NOISE_M))
for i in range(N_NODES):
    for j in range(i + 1, N_NODES):
        d = np.linalg.norm(true_pos[i] - true_pos[j])
        if d < RADIO_RANGE:
            meas_i.append(i); meas_j.append(j); meas_anchor.append(0.0)
            meas_d.append(d + rng.normal(0, NOISE_M))

mi = mx.array(np.array(meas_i, dtype=np.int32))
mj = mx.array(np.array(meas_j, dtype=np.int32))
is_anchor = mx.array(np.array(meas_anchor, dtype=np.float32))
dist = mx.array(np.array(meas_d, dtype=np.float32))
anchors = mx.array(ANCHORS)
M = dist.shape[0]

params = {"xy": mx.array(rng.uniform(40, 60, size=(N_NODES, 2)).astype(np.float32))}


def range_residuals(p, idx):
    a = p["xy"][mi[idx]]
    other_node = p["xy"][mj[idx]]
    other_anchor = anchors[mx.minimum(mj[idx], len(ANCHORS) - 1)]
    flag = is_anchor[idx][:, None]
    b = flag * other_anchor + (1 - flag) * other_node
    pred = mx.sqrt(mx.sum((a - b) ** 2, axis=1) + 1e-6)
    return pred - dist[idx]


def loss_fn(p, idx):
    r = range_residuals(p, idx)
    return mx.mean(r * r)


grad_fn = mx.value_and_grad(loss_fn)

# gradient sanity check on the full measurement set
_, g0 = grad_fn(params, mx.arange(M))
rows_with_grad = int(mx.sum(mx.any(g0["xy"] != 0, axis=1)).item())
assert rows_with_grad == N_NODES, rows_with_grad

lr, momentum, batch = 0.2, 0.9, 512
velocity = {k: mx.zeros_like(v) for k, v in params.items()}
truth = mx.array(true_pos)

print(f"# {M} range measurements ({int(is_anchor.sum().item())} to anchors), noise sd {NOISE_M} m")
print("iter,lr,range_rmse_m,position_rmse_m")
iters = 10000
for it in range(1, iters + 1):
    if it in (5000, 8000):
        lr *= 0.3
    idx = mx.array(rng.integers(0, M, size=batch).astype(np.int32))
    loss, g = grad_fn(params, idx)
    for k in params:
        velocity[k] = momentum * velocity[k] - lr * g[k]
        params[k] = params[k] + velocity[k]
    mx.eval(params, velocity, loss)
    if it % 1000 == 0 or it == 1:
        full = mx.sqrt(loss_fn(params, mx.arange(M))).item()
        pos_rmse = mx.sqrt(mx.mean(mx.sum((params["xy"] - truth) ** 2, axis=1))).item()
        print(f"{it},{lr:.3f},{full:.3f},{pos_rmse:.3f}")

err = np.linalg.norm(np.array(params["xy"]) - true_pos, axis=1)
print(f"# done: median error {np.median(err):.2f} m, worst node {err.max():.2f} m, "
      f"range noise floor {NOISE_M:.2f} m")
