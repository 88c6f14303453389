"""Tiny conv net on synthetic 12x12 'digits' (bar orientation), with a hand-written max_pool2d
because the author could not find one in mlx.nn."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def max_pool2d(x, kernel_size=(2, 2), stride=None):
    kh, kw = kernel_size
    dh, dw = stride if stride else kernel_size
    batch, height, width, channels = x.shape
    new_h, new_w = (height - kh) // dh + 1, (width - kw) // dw + 1
    pooled = mx.zeros((batch, new_h, new_w, channels))
    for i in range(0, height - kh + 1, dh):
        for j in range(0, width - kw + 1, dw):
            window = x[:, i:i + kh, j:j + kw, :]
            pooled[:, i // dh, j // dw, :] = mx.max(window, axis=(1, 2))
    return pooled


class TinyConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3)
        self.ln1 = nn.LayerNorm(8)
        self.linear = nn.Linear(5 * 5 * 8, 3)

    def __call__(self, x):
        out = max_pool2d(nn.relu(self.conv1(x)))
        out = self.ln1(out)
        return self.linear(out.reshape(out.shape[0], -1))


def make_data(n, key):
    k1, k2 = mx.random.split(key)
    labels = mx.random.randint(0, 3, (n,), key=k1)
    img = 0.3 * mx.random.normal((n, 12, 12, 1), key=k2)
    r = mx.arange(12)
    horiz = (r[None, :, None, None] == 6) & (labels[:, None, None, None] == 0)
    vert = (r[None, None, :, None] == 6) & (labels[:, None, None, None] == 1)
    diag = (r[None, :, None, None] == r[None, None, :, None]) & (labels[:, None, None, None] == 2)
    return img + 0.6 * (horiz | vert | diag), labels


X, Y = make_data(384, mx.random.key(2))
model = TinyConvNet()
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
lg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for epoch in range(12):
    for s in range(0, 384, 32):
        loss, g = lg(model, X[s:s + 32], Y[s:s + 32])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    acc = (model(X).argmax(axis=1) == Y).mean().item()
    print(f"Epoch {epoch}: loss {loss.item():.3f}, train acc {acc:.3f}")
