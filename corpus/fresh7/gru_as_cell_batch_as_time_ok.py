"""Iterative refinement regressor ported from a PyTorch model that used
torch.nn.GRUCell: a hidden state is refined for T steps, each step feeding a
message computed from the current state back through a GRU."""
import json
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)
N, F, H, T = 768, 12, 32, 3
X = mx.random.normal((N, F))
Y = (mx.sin(X[:, :3]).sum(axis=1, keepdims=True) + 0.5 * X[:, 3:4] * X[:, 4:5])
Xv = mx.random.normal((128, F))
Yv = (mx.sin(Xv[:, :3]).sum(axis=1, keepdims=True) + 0.5 * Xv[:, 3:4] * Xv[:, 4:5])


class Refiner(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(F, H)
        self.msg = nn.Linear(H, H)
        self.cell = nn.GRU(H, H)  # stands in for torch.nn.GRUCell(H, H)
        self.out = nn.Linear(H, 1)

    def __call__(self, x):
        h = mx.tanh(self.embed(x))
        for _ in range(T):
            m = nn.relu(self.msg(h))
            h = self.cell(m[:, None, :], h)[:, -1, :]
        return self.out(h)


class Trainer:
    def __init__(self, model, lr=3e-3):
        self.model = model
        self.opt = optim.Adam(learning_rate=lr)
        self.grad_fn = nn.value_and_grad(model, self.loss)

    def loss(self, model, x, y):
        return nn.losses.mse_loss(model(x), y)

    def train_step(self, x, y):
        loss, grads = self.grad_fn(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss)
        return loss.item()


trainer = Trainer(Refiner())
B = 64
for epoch in range(8):
    t0 = time.perf_counter()
    perm = mx.random.permutation(N)
    losses = [trainer.train_step(X[perm[i:i + B]], Y[perm[i:i + B]]) for i in range(0, N, B)]
    val = nn.losses.mse_loss(trainer.model(Xv), Yv).item()
    print(json.dumps({"epoch": epoch, "train_mse": round(sum(losses) / len(losses), 4),
                      "val_mse": round(val, 4), "sec": round(time.perf_counter() - t0, 2)}), flush=True)
