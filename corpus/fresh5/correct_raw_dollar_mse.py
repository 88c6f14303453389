"""House-price regression reported in raw dollars. The loss is the MSE in dollars^2, so its
values are around 1e10-1e11 at the start and still ~1e8 at the end: large, but finite and
falling. Adam is insensitive to the loss scale, so training is perfectly healthy."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(4)
N = 3000
sqm = mx.random.uniform(35, 220, (N,))
rooms = mx.floor(sqm / 30) + mx.random.randint(0, 2, (N,)).astype(mx.float32)
age = mx.random.uniform(0, 80, (N,))
dist = mx.random.uniform(0.5, 25, (N,))
price = 40_000 + 3_100 * sqm + 9_000 * rooms - 900 * age - 6_500 * mx.sqrt(dist) \
    + 15_000 * mx.random.normal((N,))
feats = mx.stack([sqm, rooms, age, dist], axis=1)
mean, std = feats.mean(axis=0), feats.std(axis=0)
Xn = (feats - mean) / std
Y = price[:, None]
Xtr, Ytr, Xva, Yva = Xn[:2500], Y[:2500], Xn[2500:], Y[2500:]

PRICE_SCALE = 100_000.0   # the net predicts in units of $100k


class PriceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 1))

    def __call__(self, x):
        return PRICE_SCALE * self.net(x)


def mse_dollars(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = PriceNet()
opt = optim.Adam(learning_rate=1e-2)
vg = nn.value_and_grad(model, mse_dollars)

for epoch in range(1, 26):
    perm = mx.random.permutation(2500)
    for i in range(0, 2500, 100):
        idx = perm[i:i + 100]
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    tr = mse_dollars(model, Xtr, Ytr).item()
    va = mse_dollars(model, Xva, Yva).item()
    print(f"epoch {epoch:02d}  train_mse={tr:.3e}  val_mse={va:.3e}  val_rmse=${va ** 0.5:,.0f}")
