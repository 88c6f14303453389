"""Linear-regression warm-up from an early-2024 MLX tutorial ('hello AI world'), run on a
current MLX. Epoch lines are printed as 'epoch E iter N/M | mse=...'."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(42)
x_train = mx.random.uniform(-5, 5, (400, 1))
y_train = 2.0 * x_train + 1.0 + 0.3 * mx.random.normal((400, 1))


class LinearRegressionModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def __call__(self, x):
        return self.linear(x)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


model = LinearRegressionModel()
optimizer = optim.SGD(learning_rate=0.01)
loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

num_epochs, batch = 30, 40
iters = 400 // batch
for epoch in range(num_epochs):
    for it in range(iters):
        xb, yb = x_train[it * batch:(it + 1) * batch], y_train[it * batch:(it + 1) * batch]
        loss, grads = loss_and_grad_fn(model, xb, yb)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
    if epoch % 5 == 4:
        print(f"epoch {epoch + 1} iter {iters}/{iters} | mse={loss.item():.4f}")
w, b = model.linear.weight.item(), model.linear.bias.item()
print(f"learned y = {w:.3f} x + {b:.3f}")
