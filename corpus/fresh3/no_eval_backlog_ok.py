"""Archery hit/miss classifier: full-batch training of a small MLP (MLX port of a PyTorch demo)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

np.random.seed(7)
n = 256
distance = np.random.uniform(10, 90, n)
wind = np.random.uniform(-15, 15, n)
skill = np.random.uniform(0, 1, n)
feats = np.stack([distance / 90, wind / 15, skill] + [np.random.randn(n) for _ in range(13)], 1)
hit = ((skill * 90 - distance - np.abs(wind) + np.random.randn(n) * 25) > -20).astype(np.float32)

X = mx.array(feats.astype(np.float32))
y = mx.array(hit)


class ArcheryModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(16, 32)
        self.layer2 = nn.Linear(32, 32)
        self.layer3 = nn.Linear(32, 1)

    def __call__(self, x):
        x = nn.relu(self.layer1(x))
        x = nn.relu(self.layer2(x))
        return self.layer3(x).squeeze(-1)


def loss_fn(model, X, y):
    return nn.losses.binary_cross_entropy(model(X), y, with_logits=True)


model = ArcheryModel()
optimizer = optim.Adam(learning_rate=0.003)
loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

num_epochs = 4000
for epoch in range(num_epochs):
    loss, grads = loss_and_grad_fn(model, X, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    if (epoch + 1) % 1000 == 0:
        acc = ((model(X) > 0) == (y > 0.5)).mean()
        print(f"Epoch [{epoch + 1}/{num_epochs}], Loss: {loss.item():.4f}, Acc: {acc.item():.3f}")
