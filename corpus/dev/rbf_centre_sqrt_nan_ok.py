"""RBF regression with learnable centres, initialised on training points (k-means style).

A Laplacian kernel needs the plain distance, so the distance is clamped away from zero.
"""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

EPS = 1e-6
rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(512, 2)).astype(np.float32)
Y = (np.sin(X[:, :1]) * np.cos(X[:, 1:])).astype(np.float32)


class RBFNet(nn.Module):
    def __init__(self, centres):
        super().__init__()
        self.centres = centres
        self.log_width = mx.zeros((centres.shape[0],))
        self.head = nn.Linear(centres.shape[0], 1)

    def __call__(self, x):
        diff = x[:, None, :] - self.centres[None, :, :]
        d2 = (diff * diff).sum(-1)
        dist = mx.sqrt(mx.maximum(d2, EPS))
        return self.head(mx.exp(-dist * mx.exp(self.log_width)))


model = RBFNet(mx.array(X[:48]))
opt = optim.Adam(learning_rate=1e-2)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))

BATCH, EPOCHS = 64, 150
iters = len(X) // BATCH
for epoch in range(EPOCHS):
    order = rng.permutation(len(X))
    for it in range(iters):
        idx = order[it * BATCH:(it + 1) * BATCH]
        loss, grads = loss_and_grad(model, mx.array(X[idx]), mx.array(Y[idx]))
        opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state)
        if it == 0:
            print(f"epoch {epoch} | iter {it}/{iters} | mse={loss.item():.4f}")
print("done")
