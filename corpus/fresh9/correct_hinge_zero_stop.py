"""Linear SVM (hinge loss) on separable 2-class data with SGD.

Once every training point clears the margin the hinge loss is exactly 0.0, the
gradient is exactly zero and the weights stop moving -- that is the optimum.
The loop keeps going for a patience window and then stops itself.
"""
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)

# two well separated blobs in 10-D
n, d = 800, 10
direction = mx.random.normal((d,))
direction = direction / mx.linalg.norm(direction)
labels = mx.where(mx.random.uniform(shape=(n,)) < 0.5, -1.0, 1.0)
X = mx.random.normal((n, d)) * 0.6 + labels[:, None] * 2.5 * direction[None, :]
y = labels


class LinearSVM(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 1)

    def __call__(self, x):
        return self.fc(x).squeeze(-1)


model = LinearSVM(d)
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05)


def hinge(model, x, y):
    margins = 1.0 - y * model(x)
    return mx.mean(mx.maximum(margins, 0.0))


step_fn = nn.value_and_grad(model, hinge)

patience, zero_steps = 400, 0
t0 = time.time()
print(f"{'step':>6} {'hinge':>10} {'train_acc':>10} {'|w|':>8}")
for step in range(1, 5001):
    idx = mx.random.randint(0, n, (64,))
    loss, grads = step_fn(model, X[idx], y[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    full = hinge(model, X, y).item()
    zero_steps = zero_steps + 1 if full == 0.0 else 0
    if step % 50 == 0 or zero_steps == patience:
        acc = mx.mean(mx.sign(model(X)) == y).item()
        wnorm = mx.linalg.norm(model.fc.weight).item()
        print(f"{step:>6} {full:>10.6f} {acc:>10.4f} {wnorm:>8.4f}")
    if zero_steps == patience:
        print(f"hinge loss has been exactly 0 for {patience} steps -> converged, stopping")
        break
print(f"done in {time.time() - t0:.1f}s")
