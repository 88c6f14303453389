"""Rotation estimation: an MLP reads 8 reference 3-D points and the same
points after an unknown rotation (+ noise) and outputs a unit quaternion.
Loss is the sign-invariant 1 - <q_pred, q_true>^2 (q and -q are the same
rotation).  Progress is written as web-server access-log lines, the way a
training job behind a tiny HTTP status endpoint might log it.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
P = rng.normal(size=(8, 3)).astype(np.float32)          # fixed reference cloud


def random_quats(n):
    q = rng.normal(size=(n, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q


def quat_to_mat(q):
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], 1)


def make_batch(n):
    q = random_quats(n)
    R = quat_to_mat(q)
    moved = np.einsum("nij,pj->npi", R, P) + 0.02 * rng.normal(size=(n, 8, 3))
    x = np.concatenate([np.broadcast_to(P, (n, 8, 3)), moved], axis=1).reshape(n, -1)
    return mx.array(x.astype(np.float32)), mx.array(q)


class QuatNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(48, 128), nn.SiLU(),
                                  nn.Linear(128, 128), nn.SiLU(),
                                  nn.Linear(128, 4))

    def __call__(self, x):
        q = self.body(x)
        return q / mx.sqrt(mx.sum(q * q, axis=-1, keepdims=True) + 1e-8)


def loss_fn(model, x, q):
    dot = mx.sum(model(x) * q, axis=-1)
    return mx.mean(1.0 - dot * dot)


def mean_angle_deg(model, x, q):
    dot = mx.abs(mx.sum(model(x) * q, axis=-1))
    ang = 2.0 * mx.arccos(mx.clip(dot, 0.0, 1.0))
    return float(mx.mean(ang).item() * 180.0 / math.pi)


mx.random.seed(2)
model = QuatNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1e-3)
vg = nn.value_and_grad(model, loss_fn)
x_te, q_te = make_batch(1000)


def log(path, status, nbytes, extra):
    ts = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())
    print(f'127.0.0.1 - trainer [{ts}] "GET {path} HTTP/1.1" {status} {nbytes} "-" "{extra}"')


log("/status?step=0", 200, 0, f"test_angle_deg={mean_angle_deg(model, x_te, q_te):.2f}")
for step in range(1, 3001):
    x, q = make_batch(128)
    loss, grads = vg(model, x, q)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 300 == 0:
        ang = mean_angle_deg(model, x_te, q_te)
        log(f"/status?step={step}", 200, 128 * step,
            f"batch_loss={loss.item():.4f} test_angle_deg={ang:.2f}")
log("/done", 204, 0, "finished")
