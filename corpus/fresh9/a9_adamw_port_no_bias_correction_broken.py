"""Port of a PyTorch tabular classifier to MLX.  Hyper-parameters are copied
from the PyTorch reference run (torch.optim.AdamW, lr=3e-2, wd=1e-2,
batch 64, 15 epochs), where the model reaches ~0.8 accuracy."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(0)
N, D, C = 2048, 20, 5
X = rng.normal(size=(N, D)).astype(np.float32)
W = rng.normal(size=(D, C)).astype(np.float32)
Y = np.argmax(np.tanh(X @ W) + 0.1 * rng.normal(size=(N, C)), axis=1)
Xm, Ym = mx.array(X), mx.array(Y)

mx.random.seed(0)
model = nn.Sequential(
    nn.Linear(D, 128), nn.ReLU(),
    nn.Linear(128, 128), nn.ReLU(),
    nn.Linear(128, C),
)
optimizer = optim.AdamW(learning_rate=3e-2, weight_decay=1e-2)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

for epoch in range(1, 16):
    perm = rng.permutation(N)
    tot, nb = 0.0, 0
    for i in range(0, N, 64):
        idx = mx.array(perm[i:i + 64])
        loss, grads = loss_and_grad(model, Xm[idx], Ym[idx])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state, loss)
        tot += loss.item()
        nb += 1
    acc = mx.mean(mx.argmax(model(Xm), axis=-1) == Ym).item()
    print(f"Epoch {epoch:02d}/15  train_nll={tot / nb:.4f}  acc={acc:.3f}")
