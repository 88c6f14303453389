"""Quantization-aware training: a 2-layer MLP whose weights are fake-quantized
to 4-bit on the forward pass, so the deployed int4 model matches training."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

BITS = 4
QMAX = 2 ** (BITS - 1) - 1


def fake_quant(w, step):
    q = mx.clip(mx.round(w / step), -QMAX - 1, QMAX)
    # straight-through estimator: forward uses q * step, backward sees identity
    return w + mx.stop_gradient(q * step - w)


class QLinear(nn.Module):
    def __init__(self, d_in, d_out, step=0.05):
        super().__init__()
        lin = nn.Linear(d_in, d_out)
        self.weight = lin.weight
        self.bias = lin.bias
        self._step = step          # fixed quantizer step (calibrated offline)

    def __call__(self, x):
        return x @ fake_quant(self.weight, self._step).T + self.bias


class QMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = QLinear(8, 32)
        self.b = QLinear(32, 1)

    def __call__(self, x):
        return self.b(nn.relu(self.a(x)))


def main():
    mx.random.seed(21)
    teacher_w = mx.random.normal((8,)) * 0.4
    model = QMLP()
    opt = optim.Adam(learning_rate=5e-3)

    def mse(params, x, y):
        model.update(params)
        return mx.mean((model(x).squeeze(-1) - y) ** 2)

    loss_and_grad = mx.value_and_grad(mse)
    w_start = model.a.weight
    for it in range(600):
        x = mx.random.normal((64, 8))
        y = mx.abs(x @ teacher_w)
        params = model.trainable_parameters()
        loss, grads = loss_and_grad(params, x, y)
        model.update(params)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 100 == 0 or it == 599:
            wg = mx.sqrt(sum(mx.sum(g * g) for k, g in tree_flatten(grads) if k.endswith("weight"))).item()
            print(f"it {it:3d} mse {loss.item():.4f} |grad W| {wg:.5f}")
    print("max |dW| layer a:", mx.max(mx.abs(model.a.weight - w_start)).item())


if __name__ == "__main__":
    main()
