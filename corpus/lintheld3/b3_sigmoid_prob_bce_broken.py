"""Click-through-rate model: the module returns probabilities, the loss is hand-written BCE."""
import mlx.core as core
import mlx.nn as nn
import mlx.optimizers as optim


class CTRModel(nn.Module):
    def __init__(self, n_fields, dim):
        super().__init__()
        self.tower = nn.Sequential(nn.Linear(n_fields, dim), nn.ReLU(), nn.Linear(dim, 1))

    def __call__(self, feats):
        return core.sigmoid(self.tower(feats)).squeeze(-1)


def weighted_bce(model, feats, clicked, pos_weight=2.0):
    p = model(feats)
    ll = pos_weight * clicked * core.log(p) + (1.0 - clicked) * core.log(1.0 - p)
    return -core.mean(ll)


def fit(model, feats, clicked, epochs=40, bs=128, lr=0.5):
    opt = optim.SGD(learning_rate=lr)
    grad_fn = nn.value_and_grad(model, weighted_bce)
    history = []
    n = feats.shape[0]
    for epoch in range(epochs):
        perm = core.random.permutation(n)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss, grads = grad_fn(model, feats[idx], clicked[idx])
            opt.update(model, grads)
            core.eval(model.parameters(), loss)
        history.append(loss.item())
        if epoch % 8 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:2d} loss {history[-1]:.4f}")
    return history


if __name__ == "__main__":
    core.random.seed(7)
    feats = 3.0 * core.random.normal((2048, 12))
    w = core.random.normal((12,))
    clicked = (feats @ w > 0.5).astype(core.float32)
    model = CTRModel(12, 32)
    hist = fit(model, feats, clicked)
    acc = core.mean((model(feats) > 0.5) == (clicked > 0.5)).item()
    print(f"final loss {hist[-1]:.4f} acc {acc:.3f}")
