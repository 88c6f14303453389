# Luthier's workbench: predict the free-plate tap tone (mode-5 ring, Hz) of a violin top
# from six measured plate readings. Stage A = dry-season plates, stage B adds
# humid-season plates with an extra moisture term (harder; the loss goes up on purpose).
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
FEATS = ["thick_mm", "density", "arch_mm", "E_long_GPa", "rh_pct", "varnish_coats"]


def make_plates(n, humid):
    t = rng.normal(2.9, 0.25, n)
    rho = rng.normal(0.40, 0.04, n)
    arch = rng.normal(15.5, 1.2, n)
    E = rng.normal(11.5, 1.5, n)
    rh = rng.normal(62 if humid else 38, 6, n)
    coats = rng.integers(0, 5, n).astype(np.float64)
    hz = 360 * (t / 2.9) * np.sqrt((E / 11.5) / (rho / 0.40)) + 4.0 * (arch - 15.5) - 6.0 * coats
    if humid:
        hz -= 0.045 * (rh - 40) ** 2  # moisture softens the wood
    hz += rng.normal(0, 4.0, n)
    X = np.stack([t, rho, arch, E, rh, coats], 1)
    return X.astype(np.float32), hz.astype(np.float32)


@mx.custom_function
def soft_clip(x):
    return 3.0 * mx.tanh(x / 3.0)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    th = mx.tanh(primals / 3.0)
    return cotangent * (1.0 - th * th)


class TapToneNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 40)
        self.l2 = nn.Linear(40, 40)
        self.out = nn.Linear(40, 1)

    def __call__(self, x):
        h = soft_clip(self.l1(x))
        h = soft_clip(self.l2(h))
        return self.out(h).squeeze(-1)


XA, yA = make_plates(1500, humid=False)
XB, yB = make_plates(1500, humid=True)
XvA, yvA = make_plates(300, humid=False)
XvB, yvB = make_plates(300, humid=True)
mu, sd = XA.mean(0), XA.std(0) + 1e-6
ymu, ysd = float(yA.mean()), float(yA.std())


def prep(X, y):
    return mx.array((X - mu) / sd), mx.array((y - ymu) / ysd)


model = TapToneNet()
opt = optim.Adagrad(learning_rate=0.08)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# gradient check of the hand-written vjp against finite differences
xc = mx.array([0.3, -2.0, 4.5])
g_auto = mx.grad(lambda z: soft_clip(z).sum())(xc)
eps = 1e-3
g_fd = (soft_clip(xc + eps) - soft_clip(xc - eps)) / (2 * eps)
print(f"vjp audit: max|custom - finite diff| = {mx.abs(g_auto - g_fd).max().item():.2e}")


def mae_hz(X, y):
    xv, _ = prep(X, y)
    pred = model(xv) * ysd + ymu
    return float(mx.abs(pred - mx.array(y)).mean().item())


def baseline_hz(y):
    return float(np.abs(y - ymu).mean())


stages = [("A dry", XA, yA, 14), ("B dry+humid", np.concatenate([XA, XB]), np.concatenate([yA, yB]), 22)]
print(f"{'stage':<12}{'ep':>4}{'train huber':>13}{'MAE dry Hz':>12}{'MAE humid Hz':>14}{'mean-guess Hz':>15}")
for name, X, y, epochs in stages:
    x_all, y_all = prep(X, y)
    n = x_all.shape[0]
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot, nb = 0.0, 0
        for i in range(0, n, 40):
            idx = perm[i:i + 40]
            loss, grads = vg(model, x_all[idx], y_all[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            nb += 1
        if ep == 1 or ep % 4 == 0 or ep == epochs:
            print(f"{name:<12}{ep:>4}{tot/nb:>13.4f}{mae_hz(XvA, yvA):>12.2f}{mae_hz(XvB, yvB):>14.2f}{baseline_hz(yvB):>15.2f}")

gn = {k: float(mx.linalg.norm(v).item()) for k, v in nn.utils.tree_flatten(vg(model, *prep(XB, yB))[1])}
print("final grad norms:", ", ".join(f"{k}={v:.2e}" for k, v in gn.items()))
print(f"summary: dry MAE {mae_hz(XvA, yvA):.2f} Hz, humid MAE {mae_hz(XvB, yvB):.2f} Hz (noise floor ~3.2 Hz)")
