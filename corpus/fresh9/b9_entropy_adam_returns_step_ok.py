"""Adam with a gradient-entropy scaled learning rate, on a small regression problem."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from typing import Callable, List, Union

mx.random.seed(3)


class AdamWithEntropy(optim.Adam):
    """Adam whose step size is modulated by the entropy of the |gradient| distribution."""

    def __init__(self, learning_rate: Union[float, Callable], betas: List[float] = [0.9, 0.999],
                 eps: float = 1e-8, beta_entropy: float = 1e-3):
        super().__init__(learning_rate=learning_rate, betas=betas, eps=eps)
        self.beta_entropy = beta_entropy

    def gradient_entropy(self, gradient):
        p = mx.abs(gradient).reshape(-1) + self.eps
        p = p / mx.sum(p)
        return -mx.sum(p * mx.log(p))

    def apply_single(self, gradient: mx.array, parameter: mx.array, state: dict):
        lr = self.learning_rate.astype(gradient.dtype)
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"] = m
        state["v"] = v
        # normalised entropy in [0, 1]: flat gradients -> larger step
        h = self.gradient_entropy(gradient) / math.log(max(gradient.size, 2))
        lr = lr * (1.0 + self.beta_entropy * h)
        step = lr * m / (mx.sqrt(v) + self.eps)
        return parameter - step


class Net(nn.Module):
    def __init__(self, d_in=8, hidden=32):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


# synthetic data: y = sin(x W1) . w2 + noise
N, D = 2048, 8
W1 = mx.random.normal((D, 4))
w2 = mx.random.normal((4, 1))
X = mx.random.normal((N, D))
Y = mx.sin(X @ W1) @ w2 + 3.0 + 0.05 * mx.random.normal((N, 1))
Xv, Yv = X[:256], Y[:256]
Xt, Yt = X[256:], Y[256:]

model = Net(D)
mx.eval(model.parameters())
opt = AdamWithEntropy(learning_rate=3e-3)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)
batch = 64
n_train = Xt.shape[0]
for it in range(1, 601):
    idx = mx.random.randint(0, n_train, (batch,))
    loss, grads = loss_and_grad(model, Xt[idx], Yt[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 50 == 0:
        val = loss_fn(model, Xv, Yv).item()
        print(f"it {it:04d} | train mse {loss.item():.4f} | val mse {val:.4f}")

print(f"final val mse {loss_fn(model, Xv, Yv).item():.4f}")
