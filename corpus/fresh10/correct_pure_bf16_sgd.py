"""Pure bfloat16 training of a small MLP regressor: weights, inputs, loss,
gradients and the SGD momentum buffers are all bf16 (no fp32 master copy),
as when fine-tuning a bf16 checkpoint directly.  Many individual weight
entries round back to the same bf16 value on a given step, but the model as
a whole keeps improving; a float32 evaluation at the end confirms it.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map


def target_fn(x):
    return np.sin(2.0 * x[:, :1]) + 0.5 * x[:, 1:2] * x[:, 2:3]


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    xtr = rng.uniform(-1.5, 1.5, size=(6000, 3)).astype(np.float32)
    ytr = target_fn(xtr).astype(np.float32)
    xte = rng.uniform(-1.5, 1.5, size=(1000, 3)).astype(np.float32)
    yte = target_fn(xte).astype(np.float32)

    model = nn.Sequential(nn.Linear(3, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    model.update(tree_map(lambda p: p.astype(mx.bfloat16), model.parameters()))
    mx.eval(model.parameters())

    def loss_fn(m, x, y):
        return nn.losses.mse_loss(m(x), y, reduction="mean")

    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    grad_fn = nn.value_and_grad(model, loss_fn)
    bs = 128
    for step in range(1, 3001):
        idx = rng.integers(0, len(xtr), size=bs)
        xb = mx.array(xtr[idx]).astype(mx.bfloat16)
        yb = mx.array(ytr[idx]).astype(mx.bfloat16)
        loss, grads = grad_fn(model, xb, yb)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0:
            print(f"step {step:4d}  loss(bf16) {loss.item():.4f}")

    model.update(tree_map(lambda p: p.astype(mx.float32), model.parameters()))
    test_mse = nn.losses.mse_loss(model(mx.array(xte)), mx.array(yte), reduction="mean").item()
    base = float(np.mean((yte - yte.mean()) ** 2))
    print(f"fp32 test mse {test_mse:.5f}  (predict-the-mean baseline {base:.5f})")


if __name__ == "__main__":
    main()
