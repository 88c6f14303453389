"""Lookahead (k=6, alpha=0.5) wrapped around Adam on a small regression MLP.
Every 6th step the fast weights are pulled halfway back to the slow weights,
so the per-step loss has a small sawtooth on top of a falling trend."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

mx.random.seed(21)
X = mx.random.uniform(-2, 2, (1024, 3))
Y = (mx.sin(X[:, :1] * 2) + X[:, 1:2] * X[:, 2:3])
mx.eval(X, Y)

model = nn.Sequential(nn.Linear(3, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 1))
mx.eval(model.parameters())
inner = optim.Adam(learning_rate=3e-3)
K, ALPHA = 6, 0.5
slow = tree_map(lambda p: p, model.trainable_parameters())


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)
print(f"{'step':>5} | {'mse':>8} | {'slow_sync':>9}")
for step in range(1, 901):
    idx = mx.random.randint(0, X.shape[0], (64,))
    loss, g = vg(model, X[idx], Y[idx])
    inner.update(model, g)
    synced = step % K == 0
    if synced:
        slow = tree_map(lambda s, f: s + ALPHA * (f - s), slow, model.trainable_parameters())
        model.update(slow)
        mx.eval(slow)
    mx.eval(model.parameters(), inner.state, loss)
    if step % 60 == 0 or step <= 12:
        print(f"{step:5d} | {loss.item():8.5f} | {'yes' if synced else '':>9}")
full = loss_fn(model, X, Y).item()
print(f"final full-data mse {full:.5f}")
