"""Linear SVM (primal, hinge loss, no regulariser) on linearly separable data.
Once every training point is outside the margin the hinge loss is exactly 0,
the gradient is exactly 0 and the weights stop moving -- that is the optimum."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
n, d = 400, 6
w_true = rng.normal(size=d)
X = rng.normal(size=(n, d)).astype(np.float32)
margin = X @ w_true
keep = np.abs(margin) > 0.8           # leave a clear gap between the classes
X, y = X[keep], np.sign(margin[keep]).astype(np.float32)
Xtr, ytr = mx.array(X), mx.array(y)
print(f"{len(y)} separable points, dim {d}")


class LinearSVM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 1)

    def __call__(self, x):
        return self.fc(x).squeeze(-1)


def hinge(model, x, y):
    return mx.mean(mx.maximum(0.0, 1.0 - y * model(x)))


model = LinearSVM(d)
opt = optim.SGD(learning_rate=0.3)
step = nn.value_and_grad(model, hinge)

print(f"{'epoch':>5} | {'hinge':>10} | {'violations':>10} | {'train_acc':>9} | {'|w|':>7}")
for epoch in range(1, 101):
    perm = mx.array(rng.permutation(len(y)))
    for i in range(0, len(y), 32):
        idx = perm[i:i + 32]
        loss, grads = step(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
    if epoch % 5 == 0 or epoch == 1:
        scores = model(Xtr)
        full = mx.mean(mx.maximum(0.0, 1.0 - ytr * scores))
        viol = mx.sum(ytr * scores < 1.0)
        acc = mx.mean((scores > 0) == (ytr > 0))
        wn = mx.sqrt(mx.sum(model.fc.weight ** 2))
        print(f"{epoch:5d} | {full.item():10.6f} | {viol.item():10d} | {acc.item():9.3f} | {wn.item():7.3f}")
print("converged: every point has functional margin >= 1")
