"""Denoising autoencoder with an explicit L2 penalty on weight matrices only."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class DAE(nn.Module):
    def __init__(self, d=24, code=6):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, code))
        self.dec = nn.Sequential(nn.Linear(code, 32), nn.Tanh(), nn.Linear(32, d))

    def __call__(self, x):
        return self.dec(self.enc(x))


def weight_penalty(model):
    flat = tree_flatten(model.trainable_parameters())
    return sum((w * w).sum() for name, w in flat if name.endswith("weight"))


def param_count(model):
    return sum(v.size for v in dict(tree_flatten(model.parameters())).values())


def run():
    mx.random.seed(9)
    basis = mx.random.normal((6, 24))
    data = mx.random.normal((1024, 6)) @ basis
    ae = DAE()
    print(f"{param_count(ae)} parameters")
    opt = optim.Adam(learning_rate=3e-3)

    def objective(model, clean):
        noisy = clean + 0.3 * mx.random.normal(clean.shape)
        rec = ((model(noisy) - clean) ** 2).mean()
        return rec + 1e-4 * weight_penalty(model)

    vg = nn.value_and_grad(ae, objective)
    for epoch in range(15):
        for i in range(0, data.shape[0], 64):
            loss, grads = vg(ae, data[i:i + 64])
            opt.update(ae, grads)
            mx.eval(ae.parameters(), opt.state)
        if epoch % 3 == 0 or epoch == 14:
            print(f"epoch {epoch:2d} loss {loss.item():.4f} penalty {weight_penalty(ae).item():.2f}")


if __name__ == "__main__":
    run()
