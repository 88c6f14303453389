"""Feature learning with a closed-form ridge-regression readout (R2D2-style).

Each step: encode a support split, fit the linear readout in closed form,
score it on a query split, and backprop the query loss into the encoder.
"""
import time

import mlx.core as core

D_IN, D_FEAT, LAM = 8, 16, 0.1


def init_params(key):
    k1, k2 = core.random.split(key)
    return {
        "w1": core.random.normal((D_IN, 32), key=k1) * (1 / D_IN) ** 0.5,
        "b1": core.zeros((32,)),
        "w2": core.random.normal((32, D_FEAT), key=k2) * (1 / 32) ** 0.5,
    }


def encode(params, x):
    h = core.tanh(x @ params["w1"] + params["b1"])
    return h @ params["w2"]


def ridge_fit(feats, targets, lam=LAM):
    gram = feats.T @ feats + lam * core.eye(feats.shape[1])
    rhs = feats.T @ targets
    return core.linalg.solve(gram, rhs, stream=core.cpu)


def episode_loss(params, xs, ys, xq, yq):
    w = ridge_fit(encode(params, xs), ys)
    pred = encode(params, xq) @ w
    return core.mean((pred - yq) ** 2)


def sample_task(key):
    ka, kb, kc = core.random.split(key, 3)
    freq = core.random.uniform(0.5, 2.0, (1, D_IN), key=ka)
    x = core.random.normal((64, D_IN), key=kb)
    y = core.sin((x * freq).sum(axis=1, keepdims=True)) + 0.05 * core.random.normal((64, 1), key=kc)
    return x[:32], y[:32], x[32:], y[32:]


def train(n_steps=400, lr=0.05):
    key = core.random.key(0)
    params = init_params(key)
    loss_and_grad = core.value_and_grad(episode_loss)
    t0 = time.time()
    window = []
    for it in range(1, n_steps + 1):
        key, sub = core.random.split(key)
        loss, grads = loss_and_grad(params, *sample_task(sub))
        params = {k: params[k] - lr * grads[k] for k in params}
        core.eval(params)
        window.append(loss.item())
        if it % 50 == 0:
            print(f"iter {it:3d} query mse (last 50 tasks) {sum(window) / len(window):.4f}")
            window = []
    print(f"{time.time() - t0:.1f}s")


if __name__ == "__main__":
    train()
