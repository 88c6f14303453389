"""Sparse polynomial calibration curve for a thermistor, fitted with a
lasso objective (MSE + L1 on the coefficients).

Pure mlx.core: parameters live in a dict, gradients come from
mx.value_and_grad, and the update is hand-written SGD with momentum.
"""
import time

import mlx.core as mx
from mlx.utils import tree_map

mx.random.seed(5)

DEG = 9
N = 4000

# true curve only uses a few powers of the (scaled) resistance
true_coef = mx.zeros((DEG + 1,))
true_coef = true_coef.at[0].add(25.0).at[1].add(-18.0).at[3].add(4.5).at[6].add(-1.2)

r = mx.random.uniform(-1.0, 1.0, (N,))
powers = mx.stack([r ** k for k in range(DEG + 1)], axis=1)       # (N, DEG+1)
temp = powers @ true_coef + 0.3 * mx.random.normal((N,))

split = 3200
x_tr, y_tr = powers[:split], temp[:split]
x_va, y_va = powers[split:], temp[split:]


def forward(params, inputs):
    return inputs @ params["coef"] + params["bias"]


def lasso(params, inputs, targets, a=1.0, b=0.01):
    outputs = forward(params, inputs)
    mse = (outputs - targets).square().mean()
    l1 = mx.abs(params["coef"]).sum()
    loss = a * mse + b * l1
    return loss, mse, l1


params = {"coef": mx.zeros((DEG + 1,)), "bias": mx.array(0.0)}
velocity = tree_map(mx.zeros_like, params)
lr, mom = 0.05, 0.9

print("%6s %10s %10s %10s %8s" % ("step", "loss", "train_mse", "val_mse", "nnz"))
t0 = time.time()
for step in range(1, 15001):
    idx = mx.random.randint(0, split, (512,))
    inputs, targets = x_tr[idx], y_tr[idx]
    (loss, mse, l1), grads = mx.value_and_grad(lasso)
    velocity = tree_map(lambda v, g: mom * v + g, velocity, grads)
    params = tree_map(lambda p, v: p - lr * v, params, velocity)
    mx.eval(params, velocity, loss)
    if step == 1 or step % 1500 == 0:
        val = (forward(params, x_va) - y_va).square().mean().item()
        nnz = (mx.abs(params["coef"]) > 0.05).sum().item()
        print("%6d %10.4f %10.4f %10.4f %8d" % (step, loss.item(), mse.item(), val, nnz))
print("coef:", [round(c, 2) for c in params["coef"].tolist()], "bias %.2f" % params["bias"].item())
print("done in %.1fs" % (time.time() - t0))
