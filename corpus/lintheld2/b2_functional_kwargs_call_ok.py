"""Pure-function MLP (no nn.Module) fitted to a noisy 1-D curve, params as a dict."""
from functools import partial

import mlx.core as mx
from mlx.utils import tree_map


def init_params(key, sizes):
    params = []
    keys = mx.random.split(key, len(sizes) - 1)
    for k, (fan_in, fan_out) in zip(keys, zip(sizes[:-1], sizes[1:])):
        w = mx.random.normal((fan_in, fan_out), key=k) * (2.0 / fan_in) ** 0.5
        params.append({"w": w, "b": mx.zeros((fan_out,))})
    return params


def forward(params, x):
    for layer in params[:-1]:
        x = mx.tanh(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def penalized_mse(params, batch, l2=0.0):
    x, y = batch
    err = forward(params, x) - y
    reg = sum((layer["w"] ** 2).sum() for layer in params)
    return (err ** 2).mean() + l2 * reg


def data_stream(key, batch_size):
    while True:
        key, sub = mx.random.split(key)
        x = mx.random.uniform(-3, 3, (batch_size, 1), key=sub)
        y = mx.sin(2 * x) + 0.3 * x + 0.05 * mx.random.normal(x.shape, key=sub)
        yield x, y


def fit(steps=600, lr=0.05, batch_size=64):
    key = mx.random.key(42)
    params = init_params(key, [1, 32, 32, 1])
    objective = partial(penalized_mse, l2=1e-4)
    grad_fn = mx.value_and_grad(objective)
    stream = data_stream(mx.random.key(7), batch_size)

    step, history = 0, []
    while step < steps:
        batch = next(stream)
        value, grads = grad_fn(params, batch)
        params = tree_map(lambda p, g: p - lr * g, params, grads)
        mx.eval(params, value)
        history.append(value.item())
        if step % 100 == 0:
            print(f"step {step:4d}  objective {value.item():.4f}")
        step += 1
    return params, history


if __name__ == "__main__":
    params, hist = fit()
    xt = mx.linspace(-3, 3, 200)[:, None]
    test = ((forward(params, xt) - (mx.sin(2 * xt) + 0.3 * xt)) ** 2).mean().item()
    print(f"first {hist[0]:.4f} last {hist[-1]:.4f} test-mse {test:.4f}")
