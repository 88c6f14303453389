# Fit a small polynomial-feature regressor with a plain parameter dict,
# following the mx.value_and_grad docs example (params, inputs, targets).
import time
import numpy as np
import mlx.core as mx

rng = np.random.default_rng(3)
N = 400_000
x = rng.uniform(-2, 2, size=(N, 1)).astype(np.float32)
y = (0.7 * x**3 - 1.2 * x + 0.5 + 0.1 * rng.standard_normal((N, 1))).astype(np.float32)
feats = np.concatenate([x, x**2, x**3], axis=1)
inputs, targets = mx.array(feats), mx.array(y)

params = {
    "w": mx.zeros((3, 1)),
    "b": mx.zeros((1,)),
}


def forward(params, inputs):
    return inputs @ params["w"] + params["b"]


def mse(params, inputs, targets):
    outputs = forward(params, inputs)
    lvalue = (outputs - targets).square().mean()
    return lvalue


lr = 0.02
t0 = time.time()
for it in range(1, 1501):
    # Returns lvalue, dlvalue/dparams
    lvalue, grads = mx.value_and_grad(mse)
    params = {k: params[k] - lr * grads[k] for k in params}
    mx.eval(params, lvalue)
    if it % 250 == 0:
        print(f"iter {it:4d}  mse {lvalue.item():.5f}  w={np.array(params['w']).ravel().round(3)}")

print(f"done in {time.time() - t0:.2f}s, final mse {mse(params, inputs, targets).item():.5f}")
