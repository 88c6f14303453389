# Slow but steady binary classifier (Adagrad, small lr) whose log line rounds the
# loss to 2 decimals and the accuracy to whole percent, so many consecutive epoch
# lines look identical even though the model improves every epoch.
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)
N, D = 2000, 20
w_true = rng.normal(size=(D,))
X = rng.normal(size=(N, D)).astype(np.float32)
logits = X @ w_true * 0.6
y = (rng.random(N) < 1 / (1 + np.exp(-logits))).astype(np.float32)

class LogReg(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(D, 1)
    def __call__(self, x):
        return self.lin(x).squeeze(-1)

model = LogReg()
model.lin.weight = mx.zeros_like(model.lin.weight)
model.lin.bias = mx.zeros_like(model.lin.bias)
opt = optim.Adagrad(learning_rate=0.004)

def nll(m, xb, yb):
    return mx.mean(nn.losses.binary_cross_entropy(m(xb), yb, with_logits=True))

step = nn.value_and_grad(model, nll)
Xm, ym = mx.array(X), mx.array(y)
for epoch in range(1, 41):
    perm = rng.permutation(N)
    for b in range(0, N, 100):
        idx = mx.array(perm[b:b + 100])
        loss, g = step(model, Xm[idx], ym[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
    full = nll(model, Xm, ym).item()
    acc = mx.mean((model(Xm) > 0) == (ym > 0.5)).item()
    print(f"ep {epoch:02d}  nll {full:.2f}  acc {acc * 100:.0f}%")
