# Conformalized quantile regression (CQR): a non-crossing 10/50/90% quantile MLP trained with the
# pinball loss, then split-conformal calibration of the 80% interval on a held-out calibration set.
# Progress is written as GitHub-Actions workflow commands (::group::, ::notice ...::, ::endgroup::).
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
TAUS = mx.array([0.1, 0.5, 0.9])
ALPHA = 0.2


def sample(n):
    x = rng.uniform(-1, 1, size=(n, 1)).astype(np.float32)
    sd = 0.08 + 0.45 * (x[:, 0] + 1) / 2
    y = np.sin(3 * x[:, 0]) + 0.3 * x[:, 0] ** 2 + sd * rng.standard_t(5, size=n)
    return x, y.astype(np.float32)


x_tr, y_tr = sample(3000)
x_ca, y_ca = sample(1000)
x_te, y_te = sample(4000)
x_tr, y_tr, x_ca, y_ca, x_te, y_te = map(mx.array, (x_tr, y_tr, x_ca, y_ca, x_te, y_te))


class QuantileNet(nn.Module):
    def __init__(self, h=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU())
        self.head = nn.Linear(h, 3)

    def __call__(self, x):
        o = self.head(self.body(x))
        mid = o[:, 1]
        lo = mid - nn.softplus(o[:, 0])
        hi = mid + nn.softplus(o[:, 2])
        return mx.stack([lo, mid, hi], axis=1)


def pinball(model, x, y):
    q = model(x)
    r = y[:, None] - q
    return mx.mean(mx.maximum(TAUS * r, (TAUS - 1) * r)) * 3


model = QuantileNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=3e-3)
step_fn = nn.value_and_grad(model, pinball)

_, g0 = step_fn(model, x_tr[:256], y_tr[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(f"::debug::grad leaves={len(tree_flatten(g0))} zero_grad_leaves={zero}")


def evaluate():
    qc = model(x_ca)
    scores = mx.maximum(qc[:, 0] - y_ca, y_ca - qc[:, 2])
    n = scores.shape[0]
    level = min(1.0, math.ceil((n + 1) * (1 - ALPHA)) / n)
    qhat = float(np.quantile(np.array(scores), level))
    qt = model(x_te)
    lo, hi = qt[:, 0], qt[:, 2]
    raw_cov = mx.mean((y_te >= lo) & (y_te <= hi)).item()
    cqr_cov = mx.mean((y_te >= lo - qhat) & (y_te <= hi + qhat)).item()
    width = mx.mean(hi - lo + 2 * qhat).item()
    return pinball(model, x_te, y_te).item(), raw_cov, cqr_cov, qhat, width


t0 = time.time()
n = x_tr.shape[0]
for epoch in range(1, 41):
    perm = mx.array(rng.permutation(n))
    run = []
    for i in range(0, n, 100):
        idx = perm[i:i + 100]
        loss, g = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state)
        run.append(loss.item())
    if epoch in (1, 2, 3) or epoch % 5 == 0:
        te, raw, cqr, qhat, width = evaluate()
        print(f"::group::epoch {epoch}")
        print(f"::notice title=pinball::train_last={run[-1]:.4f} train_epoch_mean={sum(run)/len(run):.4f} test={te:.4f}")
        print(f"::notice title=coverage (target 0.80)::raw={raw:.3f} conformal={cqr:.3f} qhat={qhat:+.4f} width={width:.3f}")
        print(f"::endgroup::  # {time.time()-t0:.1f}s")
print("::notice title=done::finished 40 epochs")
