"""Multi-output sensor regression with a Smooth-L1 (Huber-style) objective, SGD+momentum (MLX)."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)

rng = np.random.default_rng(0)
D, OUT = 16, 4
w_true = rng.normal(0, 1, (D, OUT)).astype(np.float32)
X = rng.normal(0, 1, (4096, D)).astype(np.float32)
Y = X @ w_true + 0.1 * rng.normal(0, 1, (4096, OUT)).astype(np.float32)
X, Y = mx.array(X), mx.array(Y)
Xv = mx.array(rng.normal(0, 1, (1024, D)).astype(np.float32))
Yv = Xv @ mx.array(w_true)


def smooth_l1(predictions, targets, beta=0.05):
    # same formula as mlx.nn.losses.smooth_l1_loss
    diff = mx.abs(predictions - targets)
    loss = mx.where(diff < beta, 0.5 * mx.square(diff) / beta, mx.abs(diff) - 0.5 * beta)
    return mx.mean(loss)


model = nn.Sequential(nn.Linear(D, 64), nn.ReLU(), nn.Linear(64, OUT))
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.2, momentum=0.9)
vg = nn.value_and_grad(model, lambda m, x, y: smooth_l1(m(x), y))

print("| epoch | smooth_l1 | val_mae |")
print("|------:|----------:|--------:|")
for epoch in range(1, 21):
    perm = mx.array(rng.permutation(4096))
    for i in range(0, 4096, 128):
        idx = perm[i:i + 128]
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    val_mae = mx.mean(mx.abs(model(Xv) - Yv)).item()
    print(f"| {epoch:5d} | {loss.item():9.4f} | {val_mae:7.4f} |")
