"""Hello-AI-world: fit y = 3x + 2 with a one-neuron MLX model (full batch)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
x_train = mx.random.uniform(-1, 1, (256, 1))
y_train = 3 * x_train + 2 + 0.1 * mx.random.normal((256, 1))

model = nn.Linear(1, 1)
optimizer = optim.SGD(learning_rate=0.02)


def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)


loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 2001):
    loss, grads = loss_and_grad_fn(model, x_train, y_train)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    if epoch % 50 == 0:
        print(f"Epoch {epoch}, Loss: {loss.item():.6f}")

print("weight", model.weight.item(), "bias", model.bias.item())
