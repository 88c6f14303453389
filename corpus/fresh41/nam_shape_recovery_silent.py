"""Neural additive model: one small MLP per input feature, outputs summed.
Trained quietly; at the end prints how well each learned shape function matches
the generating one (centred RMSE on a grid) and the held-out MSE."""
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

TRUE_SHAPES = [
    lambda x: mx.sin(2.0 * x),
    lambda x: 0.5 * x * x,
    lambda x: -0.7 * mx.abs(x),
    lambda x: 0.0 * x,            # pure nuisance feature
]
NOISE = 0.1


def make_data(n):
    X = mx.random.uniform(-2.0, 2.0, (n, len(TRUE_SHAPES)))
    y = sum(f(X[:, j]) for j, f in enumerate(TRUE_SHAPES))
    return X, y + NOISE * mx.random.normal((n,))


class FeatureNet(nn.Module):
    def __init__(self, hidden=24):
        super().__init__()
        self.a = nn.Linear(1, hidden)
        self.b = nn.Linear(hidden, hidden)
        self.c = nn.Linear(hidden, 1)

    def __call__(self, x):
        return self.c(nn.silu(self.b(nn.silu(self.a(x))))).squeeze(-1)


class NAM(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.nets = [FeatureNet() for _ in range(n_features)]
        self.bias = mx.zeros((1,))

    def contributions(self, X):
        return [net(X[:, j:j + 1]) for j, net in enumerate(self.nets)]

    def __call__(self, X):
        return sum(self.contributions(X)) + self.bias


def main():
    mx.random.seed(5)
    Xtr, ytr = make_data(4000)
    Xva, yva = make_data(1000)
    model = NAM(len(TRUE_SHAPES))
    epochs, bs = 40, 100
    steps_per_epoch = Xtr.shape[0] // bs
    lr = optim.exponential_decay(0.02, 0.9995)
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)

    def loss_fn(m, X, y):
        return mx.mean((m(X) - y) ** 2)

    vg = nn.value_and_grad(model, loss_fn)
    for ep in range(epochs):
        perm = mx.random.permutation(Xtr.shape[0])
        for s in range(steps_per_epoch):
            idx = perm[s * bs:(s + 1) * bs]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)

    val_mse = loss_fn(model, Xva, yva).item()
    grid = mx.linspace(-2.0, 2.0, 201)
    G = mx.broadcast_to(grid[:, None], (201, len(TRUE_SHAPES)))
    learned = model.contributions(G)
    print("feature | shape_rmse (centred)")
    for j, f in enumerate(TRUE_SHAPES):
        t = f(grid)
        l = learned[j]
        rmse = math.sqrt(mx.mean(((l - l.mean()) - (t - t.mean())) ** 2).item())
        print(f"x{j}      | {rmse:.4f}")
    print(f"val_mse {val_mse:.4f} (noise floor {NOISE ** 2:.4f}) after {epochs * steps_per_epoch} steps")


if __name__ == "__main__":
    main()
