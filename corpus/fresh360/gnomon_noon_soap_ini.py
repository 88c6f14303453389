"""Sundial survey: regress the dial's clock correction (minutes) from survey readings.

Optimizer: hand-written SOAP (Adam run in the eigenbasis of Shampoo's
Kronecker factors) for weight matrices, plain Adam for biases.
Report format: INI sections.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

T0 = time.time()
rng = np.random.default_rng(20240621)
mx.random.seed(3)

FEATURES = ["doy_sin", "doy_cos", "doy_sin2", "doy_cos2", "longitude_off",
            "gnomon_tilt", "plate_azimuth", "latitude"]
NOISE_MIN = 0.30


def make_rows(n):
    doy = rng.uniform(0, 365, size=n)
    w = 2 * np.pi * doy / 365.24
    lon = rng.uniform(-7.5, 7.5, size=n)          # degrees from zone meridian
    tilt = rng.normal(0.0, 1.0, size=n)           # degrees of gnomon error
    azim = rng.normal(0.0, 1.0, size=n)           # degrees of plate misalignment
    lat = rng.uniform(35, 60, size=n)
    eot = 9.87 * np.sin(2 * (w - 1.39)) - 7.53 * np.cos(w - 0.05) - 1.5 * np.sin(w - 0.05)
    lon_term = 4.0 * lon
    instr = (1.1 * tilt * np.cos(w) + 0.9 * azim * np.tan(np.radians(lat)) * (0.6 + 0.4 * np.sin(w))
             + 0.15 * tilt * azim)
    y = eot + lon_term + instr + NOISE_MIN * rng.normal(size=n)
    X = np.stack([np.sin(w), np.cos(w), np.sin(2 * w), np.cos(2 * w),
                  lon / 7.5, tilt, azim, (lat - 47.5) / 7.5], axis=1)
    return X.astype(np.float32), y.astype(np.float32)


Xtr, ytr = make_rows(5000)
Xva, yva = make_rows(1200)
Y_MU, Y_SD = float(ytr.mean()), float(ytr.std())
Xtr_m, Xva_m = mx.array(Xtr), mx.array(Xva)
ytr_m = mx.array((ytr - Y_MU) / Y_SD)
yva_raw = mx.array(yva)


class DialNet(nn.Module):
    def __init__(self, d_in=8, width=48):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.silu(self.mid(h)) + h
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class SOAP:
    """Adam in the rotating eigenbasis of EMA(G G^T) and EMA(G^T G)."""

    def __init__(self, lr_fn, betas=(0.9, 0.98), shampoo_beta=0.95, eps=1e-8,
                 refresh_every=10, weight_decay=1e-4):
        self.lr_fn = lr_fn
        self.b1, self.b2 = betas
        self.sb = shampoo_beta
        self.eps = eps
        self.refresh_every = refresh_every
        self.wd = weight_decay
        self.t = 0
        self.state = {}
        self.refreshes = 0

    def _eigbasis(self, M):
        M = M + 1e-6 * mx.eye(M.shape[0])
        _, Q = mx.linalg.eigh(M, stream=mx.cpu)
        return Q

    def step(self, params, grads):
        self.t += 1
        lr = self.lr_fn(self.t)
        flat_p = dict(tree_flatten(params))
        flat_g = dict(tree_flatten(grads))
        new = {}
        bc1 = 1 - self.b1 ** self.t
        bc2 = 1 - self.b2 ** self.t
        refresh = (self.t - 1) % self.refresh_every == 0
        if refresh:
            self.refreshes += 1
        for k, p in flat_p.items():
            g = flat_g[k]
            st = self.state.get(k)
            if p.ndim == 2:
                if st is None:
                    st = {"m": mx.zeros_like(p), "v": mx.zeros_like(p),
                          "L": mx.zeros((p.shape[0], p.shape[0])),
                          "R": mx.zeros((p.shape[1], p.shape[1]))}
                st["L"] = self.sb * st["L"] + (1 - self.sb) * (g @ g.T)
                st["R"] = self.sb * st["R"] + (1 - self.sb) * (g.T @ g)
                if refresh:
                    st["QL"] = self._eigbasis(st["L"])
                    st["QR"] = self._eigbasis(st["R"])
                QL, QR = st["QL"], st["QR"]
                st["m"] = self.b1 * st["m"] + (1 - self.b1) * g
                g_rot = QL.T @ g @ QR
                st["v"] = self.b2 * st["v"] + (1 - self.b2) * g_rot * g_rot
                m_rot = QL.T @ st["m"] @ QR
                n_rot = (m_rot / bc1) / (mx.sqrt(st["v"] / bc2) + self.eps)
                upd = QL @ n_rot @ QR.T
            else:
                if st is None:
                    st = {"m": mx.zeros_like(p), "v": mx.zeros_like(p)}
                st["m"] = self.b1 * st["m"] + (1 - self.b1) * g
                st["v"] = self.b2 * st["v"] + (1 - self.b2) * g * g
                upd = (st["m"] / bc1) / (mx.sqrt(st["v"] / bc2) + self.eps)
            self.state[k] = st
            new[k] = p - lr * (upd + self.wd * p)
        return tree_unflatten(list(new.items())), lr

    def arrays(self):
        out = []
        for st in self.state.values():
            out.extend(st.values())
        return out


WARM, TOTAL, PEAK, FLOOR = 60, 1170, 3e-3, 2e-4


def lr_at(t):
    # linear warm-up that starts at exactly 0, then cosine to FLOOR
    if t <= WARM:
        return PEAK * (t - 1) / WARM
    frac = (t - WARM) / (TOTAL - WARM)
    return FLOOR + 0.5 * (PEAK - FLOOR) * (1 + math.cos(math.pi * min(frac, 1.0)))


model = DialNet()
mx.eval(model.parameters())
opt = SOAP(lr_at)
vg = nn.value_and_grad(model, loss_fn)


def val_rmse_min():
    pred = model(Xva_m) * Y_SD + Y_MU
    return float(mx.sqrt(mx.mean((pred - yva_raw) ** 2)))


def section(name, **kv):
    print(f"[{name}]")
    for k, v in kv.items():
        print(f"{k} = {v}")
    print()


mean_rmse = float(np.sqrt(np.mean((yva - Y_MU) ** 2)))
section("survey", train_rows=len(ytr), valid_rows=len(yva), features=",".join(FEATURES),
        target="clock correction, minutes", mean_guess_rmse=f"{mean_rmse:.3f}",
        reading_noise_rmse=f"{NOISE_MIN:.3f}")

BATCH = 128
steps_per_epoch = len(ytr) // BATCH
REPORT = {1, 2, 60, 150, 300, 600, 900, TOTAL}
t = 0
window = []
p0 = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
for epoch in range(1, TOTAL // steps_per_epoch + 1):
    perm = rng.permutation(len(ytr))
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
        if t == 0:
            gmax = {k: float(mx.max(mx.abs(g))) for k, g in tree_flatten(grads)}
            section("gradient_check", **{k: f"{v:.3e}" for k, v in gmax.items()})
        new_params, lr = opt.step(model.parameters(), grads)
        model.update(new_params)
        mx.eval(model.parameters(), opt.arrays(), loss)
        t += 1
        window.append(float(loss))
        if t == 1:
            moved = max(float(np.max(np.abs(np.array(v) - p0[k])))
                        for k, v in tree_flatten(model.parameters()))
        if t in REPORT:
            sec = {"lr": f"{lr:.3e}", "train_mse_z": f"{np.mean(window):.5f}",
                   "valid_rmse_min": f"{val_rmse_min():.4f}",
                   "eigenbasis_refreshes": opt.refreshes,
                   "elapsed_s": f"{time.time() - T0:.1f}"}
            if t == 1:
                sec["max_param_change"] = f"{moved:.1e}"
            section(f"step {t}", **sec)
            window = []
        if t >= TOTAL:
            break
    if t >= TOTAL:
        break

final = val_rmse_min()
section("summary", steps=t, valid_rmse_min=f"{final:.4f}", mean_guess_rmse=f"{mean_rmse:.3f}",
        reading_noise_rmse=f"{NOISE_MIN:.3f}",
        explained_pct=f"{100 * (1 - final ** 2 / mean_rmse ** 2):.2f}")
