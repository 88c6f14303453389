"""Spectrophotometer dye unmixing: three food dyes from a 24-wavelength absorbance scan.

Two separate parameter trees are trained together with mx.value_and_grad(argnums=(0, 1)):
  * `net`   - a plain dict of arrays (MLP 24-48-48-3), updated with optim.Adam
  * `noise` - per-dye log noise scale (heteroscedastic Gaussian NLL), updated with optim.SGD
The Gaussian NLL on standardised concentrations goes negative once the fit is good.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
WL = np.linspace(400, 700, 24)
PEAKS = [(430, 25), (520, 35), (630, 30)]
PURE = np.stack([np.exp(-0.5 * ((WL - c) / w) ** 2) for c, w in PEAKS])      # (3, 24)


def make_scans(n):
    conc = rng.uniform(0.0, 2.0, size=(n, 3))
    absorb = conc @ PURE
    absorb = absorb + 0.15 * absorb ** 2          # detector non-linearity (saturation)
    absorb += 0.02 + 0.01 * rng.standard_normal((n, 1))   # baseline drift
    absorb += 0.01 * rng.standard_normal(absorb.shape)
    return absorb.astype(np.float32), conc.astype(np.float32)


Xtr, Ytr = make_scans(30000)
Xva, Yva = make_scans(1500)
xm, xs = Xtr.mean(0), Xtr.std(0) + 1e-6
ym, ys = Ytr.mean(0), Ytr.std(0)
norm_x = lambda a: (a - xm) / xs
Xtr_n, Xva_n = mx.array(norm_x(Xtr)), mx.array(norm_x(Xva))
Ytr_n, Yva_n = mx.array((Ytr - ym) / ys), mx.array((Yva - ym) / ys)


def init_linear(n_in, n_out):
    lim = math.sqrt(6.0 / (n_in + n_out))
    return {"w": mx.random.uniform(-lim, lim, (n_in, n_out)), "b": mx.zeros((n_out,))}


mx.random.seed(3)
net = {"l1": init_linear(24, 48), "l2": init_linear(48, 48), "out": init_linear(48, 3)}
noise = {"log_sigma": mx.zeros((3,))}


def forward(p, x):
    h = mx.tanh(x @ p["l1"]["w"] + p["l1"]["b"])
    h = mx.tanh(h @ p["l2"]["w"] + p["l2"]["b"])
    return h @ p["out"]["w"] + p["out"]["b"]


def gauss_nll(p, nz, x, y):
    mu = forward(p, x)
    ls = nz["log_sigma"]
    per = 0.5 * ((y - mu) / mx.exp(ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)
    return per.sum(axis=1).mean()


grad_fn = mx.value_and_grad(gauss_nll, argnums=(0, 1))
opt_net = optim.Adam(learning_rate=2e-3)
opt_noise = optim.SGD(learning_rate=0.05)


def rmse_mg(p, x, y_n):
    pred = np.array(forward(p, x)) * ys + ym
    return np.sqrt(((pred - (np.array(y_n) * ys + ym)) ** 2).mean(axis=0))


# first-step gradient audit over both trees
_, (g_net, g_noise) = grad_fn(net, noise, Xtr_n[:128], Ytr_n[:128])
leaves = tree_flatten(g_net) + [("noise." + k, v) for k, v in tree_flatten(g_noise)]
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
sys.stdout.write(f"grad audit: {len(leaves)} leaves, all-zero: {zero if zero else 'none'}\n")
assert not zero

hdr = f"{'epoch':>5} {'train_nll':>10} {'valid_nll':>10} {'rmse_yel':>9} {'rmse_red':>9} {'rmse_blu':>9} {'sigma':>22} {'secs':>6}"
sys.stdout.write(hdr + "\n")
t0 = time.time()
N, B = Xtr_n.shape[0], 64
for epoch in range(1, 21):
    perm = mx.array(rng.permutation(N))
    run, nb = 0.0, 0
    for i in range(0, N, B):
        idx = perm[i:i + B]
        loss, (gn, gz) = grad_fn(net, noise, Xtr_n[idx], Ytr_n[idx])
        net = opt_net.apply_gradients(gn, net)
        noise = opt_noise.apply_gradients(gz, noise)
        mx.eval(net, noise, loss, opt_net.state, opt_noise.state)
        run += loss.item(); nb += 1
    vnll = gauss_nll(net, noise, Xva_n, Yva_n).item()
    r = rmse_mg(net, Xva_n, Yva_n)
    sig = np.exp(np.array(noise["log_sigma"])) * ys
    sys.stdout.write(f"{epoch:>5} {run / nb:>10.4f} {vnll:>10.4f} {r[0]:>9.4f} {r[1]:>9.4f} {r[2]:>9.4f} "
                     f"{' '.join(f'{s:.3f}' for s in sig):>22} {time.time() - t0:>6.1f}\n")

# silent bootstrap of the validation RMSE (no output for a while)
boot = []
pred = np.array(forward(net, Xva_n)) * ys + ym
for _ in range(4000):
    j = rng.integers(0, len(Yva), len(Yva))
    boot.append(np.sqrt(((pred[j] - Yva[j]) ** 2).mean()))
lo, hi = np.percentile(boot, [2.5, 97.5])
sys.stdout.write(f"overall valid RMSE (conc units) 95% bootstrap interval: [{lo:.4f}, {hi:.4f}]\n")
