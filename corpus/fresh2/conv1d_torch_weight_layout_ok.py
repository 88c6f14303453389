"""Fine-tune a small 1-D conv classifier starting from weights exported from a PyTorch run
(saved as .npz with torch's (out, in, kernel) conv layout)."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 16, kernel_size=5, padding=2)
        self.head = nn.Linear(16, 3)

    def __call__(self, x):  # x: (batch, length, channels), MLX's NLC layout
        return self.head(nn.relu(self.conv(x)).mean(axis=1))


def export_torch_style_checkpoint(path):
    rng = np.random.default_rng(0)
    np.savez(path, **{
        "conv.weight": rng.normal(0, 0.2, (16, 4, 5)).astype(np.float32),  # torch: (out, in, k)
        "conv.bias": np.zeros(16, np.float32),
        "head.weight": rng.normal(0, 0.2, (3, 16)).astype(np.float32),
        "head.bias": np.zeros(3, np.float32),
    })


def load_pretrained(model, path):
    weights = dict(np.load(path))
    weights["conv.weight"] = weights["conv.weight"].transpose(0, 2, 1)  # -> (out, k, in)
    model.load_weights([(k, mx.array(v)) for k, v in weights.items()])


ckpt = os.path.join(tempfile.mkdtemp(), "pretrained.npz")
export_torch_style_checkpoint(ckpt)
model = ConvNet()
load_pretrained(model, ckpt)

mx.random.seed(0)
X = mx.random.normal((600, 32, 4))
Y = (X[:, :, 0].mean(axis=1) > 0).astype(mx.int32) + (X[:, :, 1].mean(axis=1) > 0.2)
opt = optim.SGD(learning_rate=0.05, momentum=0.9)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)
for epoch in range(6):
    for i in range(0, 600, 50):
        loss, g = step(model, X[i:i + 50], Y[i:i + 50])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    acc = (mx.argmax(model(X), axis=1) == Y).mean().item()
    print(f"epoch {epoch} loss {loss.item():.4f} acc {acc:.3f}")
