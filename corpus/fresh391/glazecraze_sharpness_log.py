import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(4)
n = 512
peak = rng.uniform(0, 1, n); soak = rng.uniform(0, 1, n); silica = rng.uniform(0, 1, n); cool = rng.uniform(0, 1, n)
craze = np.tanh(2.2 * (silica - 0.5)) * (1 - 0.6 * cool) + 0.5 * np.sin(3 * peak) * soak + rng.normal(0, 0.05, n)
X = mx.array(np.stack([peak, soak, silica, cool], 1).astype(np.float32))
y = (craze - craze.mean()) / craze.std()
Y = mx.array(y.astype(np.float32))

mx.random.seed(2)
model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
mx.eval(model.parameters())
names = [k for k, _ in tree_flatten(model.trainable_parameters())]
lr = 0.15
opt = optim.SGD(learning_rate=lr)

def loss_fn(m):
    return nn.losses.mse_loss(m(X).squeeze(-1), Y)
full_step = nn.value_and_grad(model, loss_fn)

def loss_flat(*ws):
    model.update(tree_unflatten(list(zip(names, ws))))
    return loss_fn(model)
grad_flat = mx.grad(loss_flat, argnums=list(range(len(names))))

def top_eig(iters=20):
    w0 = [v for _, v in tree_flatten(model.trainable_parameters())]
    v = [mx.random.normal(w.shape) for w in w0]
    lam = 0.0
    for _ in range(iters):
        nrm = mx.sqrt(sum((u * u).sum() for u in v))
        v = [u / nrm for u in v]
        _, hv = mx.jvp(grad_flat, w0, v)
        lam = sum((a * b).sum() for a, b in zip(v, hv)).item()
        v = hv
    model.update(tree_unflatten(list(zip(names, w0))))
    return lam

sharp_log = []   # (step, top Hessian eigenvalue) kept for a plot
print(f"full-batch GD, lr {lr}, stability threshold 2/lr = {2 / lr:.2f}, zero-predictor mse {float(np.mean(y ** 2)):.4f}")
print(f"{'step':>5} {'loss':>9} {'sharpness':>10} {'2/lr':>6} {'log_len':>7} {'log_bytes':>9} {'ups':>5} {'secs':>6}")
t0 = time.time()
prev, ups = None, 0
for it in range(1, 1201):
    loss, g = full_step(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    L = loss.item()
    if prev is not None and L > prev:
        ups += 1
    prev = L
    if it % 10 == 0 or it == 1:
        sharp_log.append((it, top_eig()))
    if it in (1, 10, 50, 100) or it % 100 == 0:
        nbytes = len(sharp_log) * 2 * 8
        print(f"{it:5d} {L:9.5f} {sharp_log[-1][1]:10.3f} {2 / lr:6.2f} {len(sharp_log):7d} {nbytes:9d} {ups:5d} {time.time() - t0:6.1f}")
S = np.array([s for _, s in sharp_log])
print(f"sharpness: start {S[0]:.3f}, max {S.max():.3f}, last-20 mean {S[-20:].mean():.3f}; loss went up on {ups} of 1199 steps; final mse {L:.5f}")
