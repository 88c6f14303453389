"""Residual critic MLP with BatchNorm, ported from PyTorch (including its ModuleList)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class ModuleList:
    """PyTorch-style container."""

    def __init__(self, modules):
        self._modules = list(modules)

    def __iter__(self):
        return iter(self._modules)

    def __len__(self):
        return len(self._modules)


class Critic(nn.Module):
    def __init__(self, dim, hidden, n_layer):
        super().__init__()
        self.first_block = nn.Sequential(nn.Linear(dim, hidden), nn.BatchNorm(hidden))
        self.hidden_blocks = [
            nn.Sequential(nn.Linear(hidden, hidden), nn.BatchNorm(hidden)) for _ in range(n_layer)
        ]
        self.final = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.relu(self.first_block(x))
        for block in self.hidden_blocks:
            h = h + nn.relu(block(h))
        return self.final(h)


rng = np.random.default_rng(0)
mx.random.seed(0)
DIM, HIDDEN = 32, 64
states = rng.normal(size=(20000, DIM)).astype(np.float32)
returns = np.tanh(states[:, :3].sum(1, keepdims=True)).astype(np.float32)

critic = Critic(DIM, HIDDEN, n_layer=4)
opt = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(critic, lambda m, s, r: nn.losses.mse_loss(m(s), r))
mx.eval(critic.parameters())

for epoch in range(1, 4):
    for step in range(200):
        idx = rng.integers(0, len(states), 256)
        loss, grads = loss_and_grad(critic, mx.array(states[idx]), mx.array(returns[idx]))
        opt.update(critic, grads)
        mx.eval(loss, critic.parameters(), opt.state)
        if step % 50 == 0:
            mem = mx.get_active_memory() / 2**20
            print(f"ep {epoch}/3  step {step:4d}  critic_loss {loss.item():.4f}"
                  f"  active {mem:8.1f} MB")
