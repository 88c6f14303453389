"""Mixing desk: learn the linear map from 12 stage-microphone levels to 8 monitor sends.

The desk's true routing is low rank (three 'scenes' of strength 4, 2 and 1).
A four-layer LINEAR network (no activations, no biases) started from a very small
initialisation is fitted by plain full-batch gradient descent; each scene is picked
up in turn. Printed as a column-aligned table with the overlap of the learned map with
each true scene.
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

IN, OUT, N = 12, 8, 2048
STEPS, LR, EVERY = 1700, 0.05, 50
rng = np.random.default_rng(3)
mx.random.seed(3)

U, _ = np.linalg.qr(rng.normal(size=(OUT, OUT)))
V, _ = np.linalg.qr(rng.normal(size=(IN, IN)))
strengths = np.array([4.0, 2.0, 1.0])
W_true = (U[:, :3] * strengths) @ V[:, :3].T
X = rng.normal(size=(N, IN)).astype(np.float32)
Y = (X @ W_true.T + 0.05 * rng.normal(size=(N, OUT))).astype(np.float32)
Xv = rng.normal(size=(512, IN)).astype(np.float32)
Yv = (Xv @ W_true.T + 0.05 * rng.normal(size=(512, OUT))).astype(np.float32)
X, Y, Xv, Yv = map(mx.array, (X, Y, Xv, Yv))

model = nn.Sequential(
    nn.Linear(IN, 16, bias=False),
    nn.Linear(16, 16, bias=False),
    nn.Linear(16, 16, bias=False),
    nn.Linear(16, OUT, bias=False),
)
# small initialisation on purpose: every layer scaled to 0.18 of the default
from mlx.utils import tree_map
model.update(tree_map(lambda w: 0.18 * w, model.parameters()))
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return 0.5 * ((m(x) - y) ** 2).sum(axis=1).mean()


def end_to_end(m):
    W = mx.eye(IN)
    for layer in m.layers:
        W = layer.weight @ W
    return np.array(W)


opt = optim.SGD(learning_rate=LR)
vg = nn.value_and_grad(model, loss_fn)

floor = 0.5 * OUT * 0.05 ** 2
base = loss_fn(lambda x: mx.zeros((x.shape[0], OUT)), Xv, Yv).item()
print("mixing desk | %d mics -> %d sends | %d takes | scene strengths %s" % (IN, OUT, N, strengths.tolist()))
print("noise floor (half sq err) %.5f | silent-desk loss %.4f" % (floor, base))
print("%6s %11s %11s %8s %8s %8s %9s %7s" % ("step", "train", "held_out", "scene1", "scene2", "scene3", "|W|_F", "secs"))
t0 = time.time()
for step in range(1, STEPS + 1):
    loss, grads = vg(model, X, Y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step == 1 or step % EVERY == 0:
        W = end_to_end(model)
        proj = [float(U[:, k] @ W @ V[:, k]) for k in range(3)]
        print("%6d %11.5f %11.5f %8.3f %8.3f %8.3f %9.4f %7.1f" % (
            step, loss.item(), loss_fn(model, Xv, Yv).item(), *proj, np.linalg.norm(W), time.time() - t0))
W = end_to_end(model)
print("done | max abs routing error %.4f | held-out %.5f" % (np.abs(W - W_true).max(), loss_fn(model, Xv, Yv).item()))
