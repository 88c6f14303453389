# Half-precision (float16) regression on raw, un-standardised sensor readings.
# The model normalises its input with an RMSNorm before the MLP.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

np.random.seed(3)
D, N = 24, 4096
# raw readings: counts in the hundreds (like un-scaled ADC values)
base = np.random.uniform(200, 900, size=(N, 1)).astype(np.float32)
shape = np.random.normal(0, 1, size=(N, D)).astype(np.float32)
X = base * (1.0 + 0.25 * shape)
w_true = np.random.normal(0, 1, size=(D,)).astype(np.float32)
xn = X / np.sqrt((X ** 2).mean(1, keepdims=True))
Y = np.tanh(4.0 * (xn - xn.mean(1, keepdims=True)) @ w_true / np.sqrt(D))[:, None].astype(np.float32)
Xtr, Ytr, Xva, Yva = X[:3584], Y[:3584], X[3584:], Y[3584:]

class RMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-6):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.variance_epsilon = eps
    def __call__(self, h):
        variance = mx.mean(h ** 2, axis=-1, keepdims=True)
        h = h * mx.rsqrt(variance + self.variance_epsilon)
        return self.weight * h

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = RMSNorm(D)
        self.fc1 = nn.Linear(D, 64)
        self.fc2 = nn.Linear(64, 1)
    def __call__(self, x):
        return self.fc2(nn.silu(self.fc1(self.norm(x))))

model = Net()
model.set_dtype(mx.float16)
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).astype(mx.float32), y)

step_fn = nn.value_and_grad(model, loss_fn)
xva = mx.array(Xva).astype(mx.float16); yva = mx.array(Yva)
print("var(y) =", float(Yva.var()))
step = 0
for epoch in range(1, 13):
    perm = np.random.permutation(len(Xtr))
    tot = 0.0
    for i in range(0, len(Xtr), 64):
        idx = perm[i:i + 64]
        x = mx.array(Xtr[idx]).astype(mx.float16)
        loss, grads = step_fn(model, x, mx.array(Ytr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
        step += 1
    val = loss_fn(model, xva, yva).item()
    print(f"epoch {epoch:2d} step {step:4d} train_mse {tot / len(Xtr):.5f} val_mse {val:.5f}")
