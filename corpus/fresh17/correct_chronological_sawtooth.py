"""Daily demand forecaster trained on 4 years of synthetic data in chronological
order (deliberately not shuffled, as for a time series). Within each epoch the
per-batch loss follows the seasons (winter batches are much harder), so it
repeats the same rise-and-fall pattern every epoch; the epoch mean falls.
Lion optimizer, batch lines every 8 batches."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

DAYS = 4 * 365


def build():
    mx.random.seed(5)
    t = mx.arange(DAYS).astype(mx.float32)
    doy = (t % 365) / 365.0
    dow = t % 7
    temp = 12 - 10 * mx.cos(2 * math.pi * doy) + 2 * mx.random.normal((DAYS,))
    winter = (mx.cos(2 * math.pi * doy) > 0.5).astype(mx.float32)
    # winter days: demand depends strongly and non-linearly on temperature, plus more noise
    demand = 5 + 0.3 * (dow >= 5) + winter * (0.02 * (temp - 5) ** 2 + 1.5 * mx.random.normal((DAYS,))) \
        + 0.3 * mx.random.normal((DAYS,))
    feats = mx.stack([mx.sin(2 * math.pi * doy), mx.cos(2 * math.pi * doy),
                      (dow >= 5).astype(mx.float32), temp / 10.0], axis=1)
    return feats, demand


class Forecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


def main():
    x, y = build()
    model = Forecaster()
    mx.eval(model.parameters())
    opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)
    vg = nn.value_and_grad(model, mse)
    bs = 28
    nb = DAYS // bs
    for epoch in range(1, 9):
        losses = []
        for b in range(nb):
            xb, yb = x[b * bs:(b + 1) * bs], y[b * bs:(b + 1) * bs]
            loss, g = vg(model, xb, yb)
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            losses.append(loss.item())
            if b % 8 == 0:
                print(f"epoch {epoch} [{b:3d}/{nb}] mse={losses[-1]:8.3f}")
        print(f"== epoch {epoch} mean mse {sum(losses) / len(losses):.3f}  max batch {max(losses):.2f}  min batch {min(losses):.3f}")


if __name__ == "__main__":
    main()
