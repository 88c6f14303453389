"""Deep ReLU MLP fitting a smooth target, hyper-parameters copied from a PyTorch recipe
(torch.optim.Adam, lr=3e-2)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
X = mx.random.normal((512, 16))
W = mx.random.normal((16, 1))
Y = mx.sin(X @ W)

layers = []
for i in range(6):
    layers += [nn.Linear(16 if i == 0 else 64, 64), nn.ReLU()]
model = nn.Sequential(*layers, nn.Linear(64, 1))

opt = optim.Adam(learning_rate=3e-2)
val_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

print(f"{'step':>6} | {'mse':>8} | {'r2':>7}")
print("-" * 28)
var_y = mx.var(Y).item()
for step in range(1, 451):
    loss, grads = val_grad(model, X, Y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    if step % 30 == 0:
        mse = loss.item()
        print(f"{step:>6} | {mse:>8.4f} | {1 - mse / var_y:>7.3f}")
