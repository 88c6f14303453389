"""Autoencoder on synthetic low-rank data that prints nothing until training is over.

Correct loop: every step is evaluated; the only output is the summary table at the end.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(51)
basis = mx.random.normal((4, 24))


def batch(n=128):
    return mx.random.normal((n, 4)) @ basis + 0.05 * mx.random.normal((n, 24))


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(24, 48), nn.ReLU(), nn.Linear(48, 4))
        self.decoder = nn.Sequential(nn.Linear(4, 48), nn.ReLU(), nn.Linear(48, 24))

    def __call__(self, x):
        return self.decoder(self.encoder(x))


model = AutoEncoder()
opt = optim.Adam(learning_rate=1e-3)
step = nn.value_and_grad(model, lambda m, x: nn.losses.mse_loss(m(x), x))
history = []
for it in range(1, 1201):
    x = batch()
    loss, grads = step(model, x)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 150 == 0:
        history.append((it, loss.item()))

print(f"{'step':>6} {'recon_mse':>10}")
for it, value in history:
    print(f"{it:>6} {value:>10.4f}")
