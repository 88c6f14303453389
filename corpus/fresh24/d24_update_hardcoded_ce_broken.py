# small "estimator" style trainer: ops compute + log the loss, an UpdateOp does the step
import json
import math
import random
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(1)
mx.random.seed(1)

# house-price-like regression: 6 features -> 1 target
N, D = 2048, 6
X = mx.random.normal((N, D))
w_true = mx.array([1.5, -2.0, 0.7, 0.0, 3.0, -0.5])
Y = (X @ w_true + 0.5 * mx.sin(2.0 * X[:, 0]) + 0.1 * mx.random.normal((N,)))[:, None]
Xva, Yva = X[-256:], Y[-256:]
X, Y = X[:-256], Y[:-256]


class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x)))))


def mse(pred, y):
    return mx.mean((pred - y) ** 2)


LOSSES = {"mse": mse, "ce": lambda p, y: nn.losses.cross_entropy(p, y, reduction="mean")}


class UpdateOp:
    """Computes gradients of the model and applies the optimizer."""

    def __init__(self, model, optimizer, loss_name="mse"):
        self.model = model
        self.optimizer = optimizer
        self.loss_name = loss_name

    def _grads(self, x, y):
        def loss_wrapper(model):
            pred = model(x)
            # recompute the loss so the gradient flows through the model
            loss = nn.losses.cross_entropy(pred, y)
            return mx.mean(loss)

        return nn.value_and_grad(self.model, loss_wrapper)(self.model)

    def __call__(self, x, y):
        _, grads = self._grads(x, y)
        self.optimizer.update(self.model, grads)


class Estimator:
    def __init__(self, model, optimizer, loss_name="mse", batch_size=64):
        self.model = model
        self.loss_name = loss_name
        self.loss_op = LOSSES[loss_name]
        self.update = UpdateOp(model, optimizer, loss_name)
        self.optimizer = optimizer
        self.bs = batch_size

    def fit(self, epochs):
        n = X.shape[0]
        for ep in range(1, epochs + 1):
            perm = list(range(n))
            random.shuffle(perm)
            perm = mx.array(perm)
            running, count = 0.0, 0
            for i in range(0, n - self.bs + 1, self.bs):
                ids = perm[i:i + self.bs]
                xb, yb = X[ids], Y[ids]
                loss = self.loss_op(self.model(xb), yb)   # logged loss
                self.update(xb, yb)                        # training step
                mx.eval(loss, self.model.parameters(), self.optimizer.state)
                running += loss.item()
                count += 1
            val = self.loss_op(self.model(Xva), Yva).item()
            print(json.dumps({"epoch": ep, "train_" + self.loss_name: round(running / count, 5),
                              "val_" + self.loss_name: round(val, 5),
                              "val_rmse": round(math.sqrt(val), 4)}), flush=True)


model = Regressor()
mx.eval(model.parameters())
est = Estimator(model, optim.Adam(learning_rate=3e-3), loss_name="mse", batch_size=64)
est.fit(epochs=25)
