"""Deep residual MLP regressor; blocks are gradient-checkpointed to save activation memory."""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.utils import checkpoint

mx.random.seed(17)
N, D = 2048, 8
X = mx.random.normal((N, D))
Y = mx.sin(2.0 * X[:, :1]) * mx.cos(X[:, 1:2]) + 0.5 * mx.tanh(X[:, 2:3] * X[:, 3:4])
mx.eval(X, Y)


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))


class ResMLP(nn.Module):
    def __init__(self, width=48, depth=4):
        super().__init__()
        self.stem = nn.Linear(D, width)
        self.blocks = [Block(width) for _ in range(depth)]
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.stem(x)
        for blk in self.blocks:
            h = checkpoint(blk)(h)             # recompute activations in backward
        return self.head(h)


class Trainer:
    def __init__(self, model, lr=2e-3):
        self.model = model
        self.opt = optim.Adam(learning_rate=lr)
        self.vg = nn.value_and_grad(model, self.loss)

    @staticmethod
    def loss(m, x, y):
        return nn.losses.mse_loss(m(x), y)

    def train_step(self, x, y):
        loss, grads = self.vg(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()


trainer = Trainer(ResMLP())
t0 = time.time()
for epoch in range(12):
    perm = mx.random.permutation(N)
    losses = [trainer.train_step(X[perm[i:i + 128]], Y[perm[i:i + 128]]) for i in range(0, N, 128)]
    print(f"epoch {epoch + 1:2d}/12 [{len(losses)}/{len(losses)}] mse={sum(losses) / len(losses):.5f}"
          f" t={time.time() - t0:.1f}s")
