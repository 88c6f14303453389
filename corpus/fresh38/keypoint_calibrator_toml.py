# Credit-default style logistic model with a learned MONOTONE piecewise-linear calibrator
# (16 fixed keypoints, increments = softplus of raw params, so the curve can only rise)
# on a skewed "debt ratio" feature, plus a small MLP on the other features.
# Each report is a TOML [[report]] table.
import math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(5)
K = 16
KEYS = mx.linspace(0.0, 1.0, K)


def make_data(n):
    debt = mx.random.beta(1.5, 4.0, (n,)) if hasattr(mx.random, "beta") else mx.random.uniform(shape=(n,)) ** 2.2
    other = mx.random.normal((n, 5))
    true_f = 3.0 * mx.sqrt(debt) + 4.0 * mx.maximum(debt - 0.55, 0.0) - 2.2   # monotone in debt
    logit = true_f + 0.8 * other[:, 0] - 0.6 * other[:, 1] * other[:, 2] + 0.3 * mx.tanh(other[:, 3])
    y = (mx.random.uniform(shape=(n,)) < mx.sigmoid(logit)).astype(mx.float32)
    return debt, other, y, logit


class CalibratedLogit(nn.Module):
    def __init__(self):
        super().__init__()
        self.base = mx.array([-1.0])
        self.raw_inc = mx.zeros((K - 1,))
        self.mlp = nn.Sequential(nn.Linear(5, 32), nn.Tanh(), nn.Linear(32, 1))

    def calib(self, d):
        inc = nn.softplus(self.raw_inc)
        levels = mx.concatenate([self.base, self.base + mx.cumsum(inc)])
        pos = mx.clip(d, 0.0, 1.0) * (K - 1)
        i0 = mx.clip(mx.floor(pos).astype(mx.int32), 0, K - 2)
        w = pos - i0.astype(pos.dtype)
        return levels[i0] * (1 - w) + levels[i0 + 1] * w

    def __call__(self, d, o):
        return self.calib(d) + self.mlp(o).squeeze(-1)


def bce(model, d, o, y):
    return nn.losses.binary_cross_entropy(model(d, o), y, with_logits=True, reduction="mean")


model = CalibratedLogit()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=3e-3)
vg = nn.value_and_grad(model, bce)
dtr, otr, ytr, _ = make_data(20000)
dv, ov, yv, lv = make_data(5000)
_, g = vg(model, dtr[:512], otr[:512], ytr[:512])
print("# " + ", ".join(f"{k}: max|g|={mx.abs(v).max().item():.2e}" for k, v in tree_flatten(g)))
oracle = nn.losses.binary_cross_entropy(lv, yv, with_logits=True).item()
base_rate = yv.mean().item()
const = -(base_rate * math.log(base_rate) + (1 - base_rate) * math.log(1 - base_rate))
print(f"# oracle_logloss = {oracle:.4f}   constant_logloss = {const:.4f}")
t0 = time.time()
step = 0
for epoch in range(1, 13):
    perm = mx.random.permutation(20000)
    for b in range(0, 20000, 200):
        idx = perm[b:b + 200]
        loss, grads = vg(model, dtr[idx], otr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    if epoch in (1, 2, 4, 8, 12):
        val = bce(model, dv, ov, yv).item()
        curve = model.calib(mx.array([0.05, 0.25, 0.5, 0.75, 0.95]))
        true_c = 3.0 * mx.sqrt(mx.array([0.05, 0.25, 0.5, 0.75, 0.95])) + 4.0 * mx.maximum(mx.array([0.05, 0.25, 0.5, 0.75, 0.95]) - 0.55, 0.0) - 2.2
        print()
        print("[[report]]")
        print(f"epoch = {epoch}")
        print(f"step = {step}")
        print(f"last_batch_logloss = {loss.item():.4f}")
        print(f"val_logloss = {val:.4f}")
        curve, true_c = curve - curve[2], true_c - true_c[2]   # level is shared with the MLP bias
        print(f"calib_curve_centered = [{', '.join(f'{c:.3f}' for c in curve.tolist())}]")
        print(f"true_curve_centered = [{', '.join(f'{c:.3f}' for c in true_c.tolist())}]")
        print(f"elapsed_s = {time.time() - t0:.2f}")
