"""Sequence regression (sum of a noisy window) with a fully compiled train step and AdamW."""
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N, T = 4096, 32
seqs = mx.random.normal((N, T, 1))
target = seqs[:, -8:, 0].sum(axis=1, keepdims=True)


class WindowNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(16 * T, 1)

    def __call__(self, x):
        h = nn.relu(self.conv(x))
        return self.head(h.reshape(h.shape[0], -1))


model = WindowNet()
optimizer = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
mx.eval(model.parameters())
state = [model.state, optimizer.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, lambda m, a, b: nn.losses.mse_loss(m(a), b))(
        model, x, y)
    optimizer.update(model, grads)
    return loss


for step in range(1, 501):
    idx = mx.random.randint(0, N, (128,))
    loss = train_step(seqs[idx], target[idx])
    mx.eval(state, loss)
    if step % 25 == 0:
        rel = (loss / target.var()).item()
        print(f"step={step} loss={loss.item():.4f} rel_err={rel:.3f}")
