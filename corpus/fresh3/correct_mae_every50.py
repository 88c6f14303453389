"""House-price style regression with a Huber loss; the script only reports validation MAE
(in $k) and R^2, once every 50 steps, as a table row. SGD with Nesterov momentum."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
N, F = 2048, 10
feats = mx.random.normal((N, F))
true_w = mx.random.normal((F,)) * 30
price = 250 + feats @ true_w + 15 * mx.sin(feats[:, 0] * 2) + 8 * mx.random.normal((N,))
mu, sd = price[:1600].mean(), price[:1600].std()
target = (price - mu) / sd

model = nn.Sequential(nn.Linear(F, 64), nn.ReLU(), nn.Linear(64, 1))
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
lg = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.huber_loss(m(x).squeeze(-1), y, reduction="mean"))

print(f"{'step':>5} {'val_MAE_k$':>11} {'val_R2':>7}")
for step in range(1, 801):
    idx = mx.random.randint(0, 1600, (64,))
    _, grads = lg(model, feats[idx], target[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 50 == 0:
        pred = model(feats[1600:]).squeeze(-1) * sd + mu
        err = pred - price[1600:]
        mae = mx.abs(err).mean().item()
        r2 = 1 - (err ** 2).mean().item() / price[1600:].var().item()
        print(f"{step:>5} {mae:>11.2f} {r2:>7.3f}")
