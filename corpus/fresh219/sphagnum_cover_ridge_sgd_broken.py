# Sphagnum moss cover from 48 hyperspectral band reflectances.
# Only 50 surveyed plots, so we rely on L2 weight decay (ridge) to keep the
# linear unmixing model from fitting the field noise.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class PlotSGD(optim.Optimizer):
    """SGD with optional momentum / dampening / nesterov and L2 weight decay."""

    def __init__(self, learning_rate, momentum=0.0, weight_decay=0.0,
                 dampening=0.0, nesterov=False):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = self.learning_rate.astype(gradient.dtype)
        if self.momentum <= 0:
            return parameter - lr * gradient

        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter

        v = self.momentum * state["v"]
        if self.dampening > 0:
            v += (1 - self.dampening) * gradient
        else:
            v += gradient
        update = gradient + self.momentum * v if self.nesterov else v
        state["v"] = v
        return parameter - lr * update


rng = np.random.default_rng(7)
BANDS, N_TRAIN, N_VAL = 48, 50, 600
w_true = rng.normal(0, 1, BANDS) / np.sqrt(BANDS)
def survey(n):
    X = rng.normal(0, 1, (n, BANDS))
    y = X @ w_true + rng.normal(0, 0.5, n)
    return X.astype(np.float32), y.astype(np.float32)[:, None]
Xtr, ytr = survey(N_TRAIN)
Xva, yva = survey(N_VAL)

LAMBDA = 0.5
# closed-form target of  mean((Xw - y)^2) + lambda/2 |w|^2
A = 2.0 / N_TRAIN * Xtr.T @ Xtr + LAMBDA * np.eye(BANDS)
w_ridge = np.linalg.solve(A, 2.0 / N_TRAIN * Xtr.T @ ytr)

Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
model = nn.Linear(BANDS, 1, bias=False)
model.update({"weight": mx.zeros((1, BANDS))})
opt = PlotSGD(learning_rate=0.05, weight_decay=LAMBDA)

def mse(m, X, y):
    return mx.mean((m(X) - y) ** 2)

loss_and_grad = nn.value_and_grad(model, mse)

print("sweep  train_mse  val_mse   |w|     ridge_gap")
for step in range(1, 4001):
    loss, grads = loss_and_grad(model, Xtr, ytr)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 400 == 0:
        w = np.array(model.weight).reshape(-1, 1)
        val = mse(model, Xva, yva).item()
        gap = float(np.abs(w - w_ridge).max())
        print(f"{step:5d}  {loss.item():9.4f}  {val:7.4f}  {np.linalg.norm(w):6.3f}  {gap:9.2e}")

val = mse(model, Xva, yva).item()
print(f"final: val_mse={val:.4f} (noise floor 0.25), |w|={float(mx.linalg.norm(model.weight)):.3f}, "
      f"ridge |w|={np.linalg.norm(w_ridge):.3f}")
