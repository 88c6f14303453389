"""Recover the three boids steering weights (cohesion, alignment, separation) and the
neighbourhood radius from a recorded flock.  Silent between reports; every report is a
Lisp-style property list so it can be read back with (read)."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)
N, T = 32, 120
TRUE = dict(coh=0.04, ali=0.12, sep=0.30, rad=1.6)


def step_np(x, v, w):
    d = x[:, None, :] - x[None, :, :]            # i - j
    d2 = (d ** 2).sum(-1)
    k = np.exp(-d2 / w["rad"] ** 2)
    np.fill_diagonal(k, 0.0)
    ks = k.sum(1, keepdims=True) + 1e-6
    cen = (k @ x) / ks
    mv = (k @ v) / ks
    sep = (k[:, :, None] * d / (d2[:, :, None] + 0.25)).sum(1)
    return v + w["coh"] * (cen - x) + w["ali"] * (mv - v) + w["sep"] * sep * 0.1


# record 6 flights
X, V, VN = [], [], []
for run in range(6):
    x = rng.normal(0, 2.0, (N, 2))
    v = rng.normal(0, 0.3, (N, 2))
    for t in range(T):
        vn = step_np(x, v, TRUE)
        vn = vn + rng.normal(0, 0.01, vn.shape)          # sensor noise on velocities
        X.append(x.copy()); V.append(v.copy()); VN.append(vn.copy())
        x = x + 0.1 * vn
        v = vn
X = mx.array(np.stack(X).astype(np.float32))
V = mx.array(np.stack(V).astype(np.float32))
VN = mx.array(np.stack(VN).astype(np.float32))
S = X.shape[0]
perm = rng.permutation(S)
tr_idx, te_idx = mx.array(perm[: int(0.85 * S)]), mx.array(perm[int(0.85 * S):])


class Flock(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_w = mx.log(mx.array([0.1, 0.1, 0.1]))   # coh, ali, sep
        self.log_rad = mx.array(0.0)

    def __call__(self, x, v):
        w = mx.exp(self.log_w)
        rad = mx.exp(self.log_rad)
        d = x[:, :, None, :] - x[:, None, :, :]
        d2 = (d * d).sum(-1)
        eye = mx.eye(x.shape[1])
        k = mx.exp(-d2 / (rad * rad)) * (1 - eye)
        ks = k.sum(-1, keepdims=True) + 1e-6
        cen = (k @ x) / ks
        mv = (k @ v) / ks
        sep = (k[..., None] * d / (d2[..., None] + 0.25)).sum(2)
        return v + w[0] * (cen - x) + w[1] * (mv - v) + w[2] * sep * 0.1


def loss_fn(model, x, v, vn):
    return ((model(x, v) - vn) ** 2).mean() * 1e4      # in (1e-2 velocity units)^2


model = Flock()
opt = optim.Adamax(learning_rate=0.02)
lg = nn.value_and_grad(model, loss_fn)


def plist(tag, **kv):
    body = " ".join(f":{k.replace('_', '-')} {v}" for k, v in kv.items())
    print(f"({tag} {body})", flush=True)


# gradient sanity at step 0
b0 = tr_idx[:64]
l0, g0 = lg(model, X[b0], V[b0], VN[b0])
from mlx.utils import tree_flatten
leaves = tree_flatten(g0)
zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
plist("gradcheck", leaves=len(leaves), zero_leaves=len(zero), loss0=f"{l0.item():.4f}")

t0 = time.time()
ntr = tr_idx.shape[0]
for it in range(1, 1501):
    sel = tr_idx[mx.array(rng.integers(0, ntr, 64))]
    loss, g = lg(model, X[sel], V[sel], VN[sel])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it in (1, 10, 100) or it % 300 == 0:
        te = loss_fn(model, X[te_idx], V[te_idx], VN[te_idx]).item()
        w = np.exp(np.array(model.log_w)); r = float(np.exp(np.array(model.log_rad)))
        plist("report", iter=it, batch_mse=f"{loss.item():.4f}", heldout_mse=f"{te:.4f}",
              coh=f"{w[0]:.4f}", ali=f"{w[1]:.4f}", sep=f"{w[2]:.4f}", rad=f"{r:.3f}",
              secs=f"{time.time() - t0:.1f}")

w = np.exp(np.array(model.log_w)); r = float(np.exp(np.array(model.log_rad)))
noise_floor = 0.01 ** 2 * 1e4
plist("result", noise_floor=f"{noise_floor:.4f}",
      coh=f"(fit {w[0]:.4f} true {TRUE['coh']})", ali=f"(fit {w[1]:.4f} true {TRUE['ali']})",
      sep=f"(fit {w[2]:.4f} true {TRUE['sep']})", rad=f"(fit {r:.3f} true {TRUE['rad']})")
