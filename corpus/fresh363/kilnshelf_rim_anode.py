# Augmented neural ODE (continuous-depth classifier) for kiln-shelf crack scans:
# points measured on a round kiln shelf, class 0 = sound core, class 1 = crazed rim.
# The ODE is integrated with an adaptive Bogacki-Shampine (RK23) step controller that
# picks the time grid without gradients; the loss then differentiates along that grid.
# Stage 2 adds a kinetic-energy penalty on the vector field to make the flow cheaper.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)


def shelf_scan(n):
    y = rng.integers(0, 2, size=n)
    r = np.where(y == 0, rng.uniform(0.0, 0.5, n), rng.uniform(1.0, 1.5, n))
    a = rng.uniform(0, 2 * np.pi, n)
    x = np.stack([r * np.cos(a), r * np.sin(a)], 1) + rng.normal(0, 0.03, (n, 2))
    return mx.array(x.astype(np.float32)), mx.array(y.astype(np.int32))


Xtr, ytr = shelf_scan(2048)
Xva, yva = shelf_scan(512)
AUG = 2


class Field(nn.Module):
    def __init__(self, dim, width=32):
        super().__init__()
        self.l1 = nn.Linear(dim + 1, width)
        self.l2 = nn.Linear(width, width)
        self.l3 = nn.Linear(width, dim)

    def __call__(self, t, z):
        tt = mx.full((z.shape[0], 1), t)
        h = mx.tanh(self.l1(mx.concatenate([z, tt], axis=1)))
        h = mx.tanh(self.l2(h))
        return self.l3(h)


class ANODE(nn.Module):
    def __init__(self):
        super().__init__()
        self.field = Field(2 + AUG)
        self.head = nn.Linear(2 + AUG, 2)

    def lift(self, x):
        return mx.concatenate([x, mx.zeros((x.shape[0], AUG))], axis=1)


def bs23(f, t, z, h):
    k1 = f(t, z)
    k2 = f(t + 0.5 * h, z + 0.5 * h * k1)
    k3 = f(t + 0.75 * h, z + 0.75 * h * k2)
    z3 = z + h * (2 / 9 * k1 + 1 / 3 * k2 + 4 / 9 * k3)
    return z3, k1, k2, k3


def choose_grid(model, z, rtol=1e-3, atol=1e-4, h=0.25):
    """Adaptive step selection on detached values; returns step sizes and NFE."""
    z = mx.stop_gradient(z)
    t, steps, nfe = 0.0, [], 0
    while t < 1.0 - 1e-9:
        h = min(h, 1.0 - t)
        z3, k1, k2, k3 = bs23(model.field, t, z, h)
        k4 = model.field(t + h, z3)
        nfe += 4
        z2 = z + h * (7 / 24 * k1 + 1 / 4 * k2 + 1 / 3 * k3 + 1 / 8 * k4)
        scale = atol + rtol * mx.maximum(mx.abs(z), mx.abs(z3))
        err = mx.sqrt(mx.mean(((z3 - z2) / scale) ** 2)).item()
        if err <= 1.0:
            t += h
            steps.append(h)
            z = z3
        h = h * min(4.0, max(0.2, 0.9 * (1.0 / max(err, 1e-10)) ** (1 / 3)))
    return steps, nfe


def integrate(model, z, steps):
    t, kinetic = 0.0, 0.0
    for h in steps:
        z_new, k1, k2, k3 = bs23(model.field, t, z, h)
        kinetic = kinetic + h * mx.mean(mx.sum(k1 * k1, axis=1))
        z, t = z_new, t + h
    return z, kinetic


def loss_fn(model, x, y, steps, lam):
    zT, kin = integrate(model, model.lift(x), steps)
    ce = nn.losses.cross_entropy(model.head(zT), y, reduction="mean")
    return ce + lam * kin, (ce, kin)


def evaluate(model, x, y):
    steps, nfe = choose_grid(model, model.lift(x))
    zT, _ = integrate(model, model.lift(x), steps)
    return (mx.argmax(model.head(zT), 1) == y).mean().item(), nfe


mx.random.seed(3)
model = ANODE()
mx.eval(model.parameters())

# baseline: logistic regression on the raw coordinates (rings are not linearly separable)
lin = nn.Linear(2, 2)
lopt = optim.Adam(learning_rate=0.05)
lvg = nn.value_and_grad(lin, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
for _ in range(200):
    _, g = lvg(lin, Xtr, ytr)
    lopt.update(lin, g)
    mx.eval(lin.parameters(), lopt.state)
print(f"baseline linear val acc {(mx.argmax(lin(Xva), 1) == yva).mean().item():.3f}   radius-rule val acc 1.000")

STAGE1, STAGE2, BATCH = 160, 120, 128
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
for it in range(STAGE1 + STAGE2):
    stage2 = it >= STAGE1
    if it == STAGE1:
        opt.learning_rate = 1e-3
        print("--- stage 2: kinetic-energy penalty switched on, weight ramps 0 -> 0.05 ---")
    lam = 0.05 * min(1.0, (it - STAGE1) / 60) if stage2 else 0.0
    idx = mx.array(rng.integers(0, Xtr.shape[0], BATCH))
    xb, yb = Xtr[idx], ytr[idx]
    steps, nfe = choose_grid(model, model.lift(xb))
    (total, (ce, kin)), g = vg(model, xb, yb, steps, lam)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, total, ce, kin)
    if it % 20 == 0 or it == STAGE1 + STAGE2 - 1:
        acc, vnfe = evaluate(model, Xva, yva)
        print(f"step {it:3d}  total {total.item():.4f}  CE {ce.item():.4f}  kinetic {kin.item():.3f}  "
              f"lam {lam:.3f}  steps {len(steps):2d}  NFE {nfe:3d}  val acc {acc:.3f}  val NFE {vnfe}  ({time.time() - t0:.1f}s)")

acc, vnfe = evaluate(model, Xva, yva)
print(f"final val acc {acc:.3f}  solver NFE per batch {vnfe}")
