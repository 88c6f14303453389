"""A tiny MLX model whose forward asks for `query_proj` where it holds `quant_proj` (the
typo of ml-explore/mlx-examples 4ed942d): the first training step raises AttributeError."""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Autoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(4, 4)
        self.quant_proj = nn.Linear(4, 4)

    def __call__(self, x: mx.array) -> mx.array:
        return self.query_proj(self.encoder(x))


model = Autoencoder()
optimizer = optim.SGD(learning_rate=0.1)
step = nn.value_and_grad(model, lambda m, x: mx.mean((m(x) - x) ** 2))
for i in range(3):
    loss, grads = step(model, mx.ones((8, 4)))
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    print(f"step {i} loss {loss.item():.4f}")
