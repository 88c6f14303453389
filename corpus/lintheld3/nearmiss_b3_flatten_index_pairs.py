"""Autoencoder on synthetic data with a per-layer gradient report every few steps."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def count_params(module):
    total = 0
    for entry in tree_flatten(module.parameters()):
        total += entry[1].size
    return total


def grad_report(grads, top=3):
    norms = []
    for entry in tree_flatten(grads):
        name, g = entry
        norms.append((mx.linalg.norm(g.reshape(-1)).item(), name))
    norms.sort(reverse=True)
    return ", ".join(f"{n}={v:.3f}" for v, n in norms[:top])


def clip_grads(grads, max_norm):
    leaves = dict(tree_flatten(grads)).values()
    total = mx.sqrt(sum((g * g).sum() for g in leaves))
    scale = mx.minimum(1.0, max_norm / (total + 1e-6))
    return tree_map(lambda g: g * scale, grads)


class AE(nn.Module):
    def __init__(self, d, z):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, z))
        self.dec = nn.Sequential(nn.Linear(z, 32), nn.ReLU(), nn.Linear(32, d))

    def __call__(self, x):
        return self.dec(self.enc(x))


def main():
    mx.random.seed(4)
    basis = mx.random.normal((3, 12))
    data = mx.random.normal((1024, 3)) @ basis
    ae = AE(12, 3)
    print("params:", count_params(ae))
    opt = optim.Adam(learning_rate=3e-3)
    vg = nn.value_and_grad(ae, lambda m, x: nn.losses.mse_loss(m(x), x))
    step = 0
    while step < 300:
        batch = data[mx.random.randint(0, 1024, (64,))]
        loss, grads = vg(ae, batch)
        grads = clip_grads(grads, 5.0)
        opt.update(ae, grads)
        mx.eval(ae.parameters(), opt.state)
        if step % 100 == 0:
            print(f"step {step} loss {loss.item():.4f} | {grad_report(grads)}")
        step += 1
    print(f"final recon mse {nn.losses.mse_loss(ae(data), data).item():.4f}")


if __name__ == "__main__":
    main()
