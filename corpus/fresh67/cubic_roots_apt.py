# Does x^3 + b x^2 + c x + d have one or three real roots?  Learn it from the
# coefficients; ground truth is the sign of the discriminant.  Log looks like apt-get.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def sample(n):
    # draw the roots' configuration indirectly: random real coefficients
    coef = rng.uniform(-3.0, 3.0, size=(n, 3)).astype(np.float64)
    b, c, d = coef.T
    disc = 18 * b * c * d - 4 * b ** 3 * d + b ** 2 * c ** 2 - 4 * c ** 3 - 27 * d ** 2
    y = (disc > 0).astype(np.float32)          # 1 -> three distinct real roots
    return mx.array((coef / 3.0).astype(np.float32)), mx.array(y)


x_tr, y_tr = sample(12000)
x_te, y_te = sample(3000)
EPOCHS, BS = 14, 128
steps_per_epoch = len(y_tr) // BS
total = EPOCHS * steps_per_epoch

model = nn.Sequential(
    nn.Linear(3, 96), nn.LayerNorm(96), nn.SiLU(),
    nn.Linear(96, 96), nn.SiLU(),
    nn.Linear(96, 1),
)
sched = optim.join_schedules(
    [optim.linear_schedule(1e-5, 6e-4, 200), optim.cosine_decay(6e-4, total - 200, 2e-5)], [200]
)
opt = optim.Lion(learning_rate=sched, weight_decay=0.01)


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x).squeeze(-1), y, with_logits=True)


grad_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = grad_fn(model, x, y)
    opt.update(model, g)
    return loss


def test_metrics():
    logits = model(x_te).squeeze(-1)
    ce = nn.losses.binary_cross_entropy(logits, y_te, with_logits=True)
    acc = ((logits > 0) == (y_te > 0.5)).astype(mx.float32).mean()
    return ce.item(), acc.item()


# gradient audit before training (no update)
_, g0 = grad_fn(model, x_tr[:BS], y_tr[:BS])
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
base = float(y_tr.mean().item())

print("Reading package lists... Done")
print("Building dependency tree... Done")
print(f"Reading state information... Done ({len(leaves)} gradient leaves, {len(zero)} zero: {zero or 'none'})")
print(f"The following NEW packages will be installed:\n  cubic-roots-classifier (three-root share {base:.3f}, "
      f"majority baseline acc {max(base, 1 - base):.3f})")
print(f"0 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.")
print(f"Need to get {total} steps of training.")

t0 = time.perf_counter()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(y_tr)))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss = step(x_tr[idx], y_tr[idx])
        mx.eval(loss, state)
        run += loss.item()
    te_ce, te_acc = test_metrics()
    lr = sched(opt.step).item()
    print(f"Get:{ep} epoch/{ep:02d} train_bce={run / steps_per_epoch:.4f} test_bce={te_ce:.4f} "
          f"test_acc={te_acc:.4f} lr={lr:.2e} [{time.perf_counter() - t0:.1f} s]")

print("Unpacking cubic-roots-classifier ...")
# a few named polynomials
probe = {"(x-1)(x-2)(x+2)": (-1, -4, 4), "x^3 + x + 1": (0, 1, 1),
         "x^3 - 2x": (0, -2, 0), "x^3 + 2x^2 + 2x + 1": (2, 2, 1)}
for name, (b, c, d) in probe.items():
    p = mx.sigmoid(model(mx.array([[b / 3.0, c / 3.0, d / 3.0]]))).item()
    print(f"  {name:<22s} P(three real roots) = {p:.3f}")
te_ce, te_acc = test_metrics()
print(f"Setting up cubic-roots-classifier (test_acc {te_acc:.4f}, test_bce {te_ce:.4f}) ...")
print(f"Processing triggers for training ... done in {time.perf_counter() - t0:.1f} s")
