"""Sequence classifier with nn.LSTM, data laid out time-major as in a PyTorch port.

Reproduces ml-explore/mlx#1324 ("Convergence issue in MLX when compared to PyTorch": the MLX
model stalls after the first iterations while PyTorch converges). The maintainer's first point:
"Everything in MLX is batch first" -- nn.LSTM/GRU/RNN read (batch, time, features), so a
(time, batch, features) tensor makes the model recur over the batch instead of over time.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(0)
T, N, F = 16, 1024, 3
# (time, batch, features): the layout the original PyTorch code used (batch_first=False)
series = mx.random.normal((T, N, F))
labels = (series[:, :, 0].sum(axis=0) > 0).astype(mx.int32)


class SeqClassifier(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(F, hidden)
        self.head = nn.Linear(hidden, 2)

    def __call__(self, x):
        hs, _ = self.lstm(x.transpose(1, 0, 2))  # MLX RNNs are batch-first
        return self.head(hs[:, -1])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = SeqClassifier()
opt = optim.Adam(learning_rate=3e-3)
step = nn.value_and_grad(model, loss_fn)
BS = 64
for epoch in range(1, 9):
    perm = mx.random.permutation(N)
    losses, correct = [], 0
    for b in range(0, N, BS):
        idx = perm[b:b + BS]
        x, y = series[:, idx], labels[idx]
        loss, grads = step(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
        correct += (mx.argmax(model(x), axis=-1) == y).sum().item()
    print(f"epoch {epoch}/8 - loss: {sum(losses) / len(losses):.4f} - acc: {correct / N:.4f}",
          flush=True)
