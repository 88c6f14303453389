"""Full-batch gradient descent with an Armijo backtracking line search.

Each iteration tries ONE step size t.  If the sufficient-decrease test fails the
trial is rejected: parameters are left exactly as they were and t is halved.
If it passes the step is accepted and t is doubled for the next iteration.  So
a good share of iterations legitimately change nothing at all.
"""
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

mx.random.seed(5)

n, d = 1024, 6
X = mx.random.normal((n, d))
true_w = mx.random.normal((d, 1))
y = mx.tanh(X @ true_w) + 0.5 * mx.sin(2 * X[:, :1]) + 0.05 * mx.random.normal((n, 1))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(d, 24)
        self.b = nn.Linear(24, 1)

    def __call__(self, x):
        return self.b(mx.tanh(self.a(x)))


model = MLP()
mx.eval(model.parameters())


def objective(params):
    model.update(params)
    return mx.mean(mx.square(model(X) - y))


val_and_grad = mx.value_and_grad(objective)

params = model.trainable_parameters()
t, c = 8.0, 1e-4
accepted = rejected = 0
f, g = val_and_grad(params)
mx.eval(f, g)
print(f"start f={f.item():.5f}")
for it in range(1, 301):
    gsq = sum(mx.sum(v * v) for _, v in tree_flatten(g))
    trial = tree_map(lambda p, gr: p - t * gr, params, g)
    f_trial = objective(trial)
    ok = (f_trial <= f - c * t * gsq).item()
    if ok:
        params = trial
        accepted += 1
        t = min(t * 2.0, 64.0)
        f, g = val_and_grad(params)
        mx.eval(params, f, g)
    else:
        rejected += 1
        t *= 0.5
        model.update(params)   # keep the current iterate
    if it % 10 == 0:
        print(f"it {it:03d}  f={f.item():.5f}  t={t:.4g}  accepted={accepted} rejected={rejected}")

model.update(params)
print(f"final f={f.item():.5f}  ({accepted} accepted / {rejected} rejected trials)")
