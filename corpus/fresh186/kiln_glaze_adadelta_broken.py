# Predict the peak kiln temperature (deg C, cone 6 firings) from glaze oxide recipe features.
# Hand-rolled AdaDelta (Zeiler 2012, no tuned learning rate) to compare with the paper.
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N, D = 512, 8
X = mx.random.uniform(0.0, 1.0, (N, D))
oxide_w = mx.array([1.8, -0.9, 0.6, 1.2, -0.4, 0.3, 0.8, -1.1])
y = 1222.0 + 25.0 * (X @ oxide_w) + 2.0 * mx.random.normal((N,))
Xtr, ytr, Xva, yva = X[:400], y[:400], X[400:], y[400:]


class AdaDelta(optim.Optimizer):
    def __init__(self, learning_rate=1.0, rho=0.9, eps=1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.rho = rho
        self.eps = eps

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)
        state["u"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        rho, eps = self.rho, self.eps
        v = state.get("v", mx.zeros_like(gradient))
        u = state.get("s", mx.zeros_like(gradient))
        v = rho * v + (1 - rho) * mx.square(gradient)
        d = mx.sqrt(u + eps) / mx.sqrt(v + eps) * gradient
        u = rho * u + (1 - rho) * mx.square(d)
        state["v"] = v
        state["u"] = u
        return parameter - lr * d


class PeakTempHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(D, 16)
        self.out = nn.Linear(16, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.hidden(x))).squeeze(-1)


model = PeakTempHead()
opt = AdaDelta(learning_rate=1.0, rho=0.9, eps=1e-6)


def loss_fn(m, xb, yb):
    return mx.mean(mx.square(m(xb) - yb))


step_fn = nn.value_and_grad(model, loss_fn)
print("baseline (predict train mean) val mse:", round(mx.mean(mx.square(yva - ytr.mean())).item(), 4))
for it in range(1, 2001):
    loss, grads = step_fn(model, Xtr, ytr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 200 == 0:
        val = loss_fn(model, Xva, yva).item()
        print(f"it {it:5d}  train_mse {loss.item():9.4f}  val_mse {val:9.4f}")
