"""Small graph-property regressor (mean-pooled node features) with gradient clipping.

Reproduces the usage question in ml-explore/mlx#1622 ("how to use clip_grad_norm?"): the answer
is that optim.clip_grad_norm returns a tuple (clipped_grads, total_norm) and only the first item
goes to optimizer.update; passing the whole return value breaks the update.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
N_GRAPHS, N_NODES, FEAT = 512, 12, 8
nodes = mx.random.normal((N_GRAPHS, N_NODES, FEAT))
w_true = mx.random.normal((FEAT,))
target = mx.tanh(nodes @ w_true).mean(axis=1) * 3.0


class PoolNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.node = nn.Sequential(nn.Linear(FEAT, 32), nn.SiLU(), nn.Linear(32, 32))
        self.head = nn.Linear(32, 1)

    def __call__(self, g):
        return self.head(self.node(g).mean(axis=1)).squeeze(-1)


def forward_fn(model, g, y):
    pred = model(g)
    return nn.losses.mse_loss(pred, y), pred


model = PoolNet()
optimizer = optim.SGD(learning_rate=0.05, momentum=0.9)
loss_and_grad = nn.value_and_grad(model, forward_fn)

for epoch in range(30):
    perm = mx.random.permutation(N_GRAPHS)
    total, count = 0.0, 0
    for start in range(0, N_GRAPHS, 64):
        idx = perm[start:start + 64]
        (loss, _), grads = loss_and_grad(model, nodes[idx], target[idx])
        grads, grad_norm = optim.clip_grad_norm(grads, max_norm=1.0)
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        total += loss.item()
        count += 1
    print({"epoch": epoch, "train_mse": round(total / count, 5)})
