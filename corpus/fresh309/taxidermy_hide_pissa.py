"""Taxidermy studio: days until a mounted hide is dry enough to finish.

A small regressor learned the old studio's drying times; the new studio has a
different drying room.  The base network is kept frozen and adapted with
principal-singular-vector adapters (PiSSA style): each Linear weight is split
into its top-r singular part (trainable factors) and a frozen residual.
"""
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

mx.random.seed(11)
rng = np.random.default_rng(11)
NOISE = 0.10


def make_hides(n, studio):
    thick = rng.uniform(0.5, 4.0, n)        # mm
    humid = rng.uniform(30, 80, n)          # % RH
    temp = rng.uniform(14, 26, n)           # deg C
    fan = rng.integers(0, 2, n).astype(np.float64)
    salt_h = rng.uniform(12, 72, n)         # hours in salt
    size = rng.uniform(0.2, 3.0, n)         # body length proxy
    base = 2.0 + 1.6 * thick + 0.05 * (humid - 50) - 0.12 * (temp - 20) - 0.8 * fan
    base += 0.9 * np.log1p(size) - 0.01 * (salt_h - 40)
    if studio == "new":
        # cold cellar room, fans much weaker, humidity hits thick hides harder
        base += 0.6 + 0.03 * (humid - 50) * thick - 0.5 * fan * (1 - 0.7) + 0.1 * (20 - temp)
    y = base + NOISE * rng.standard_normal(n)
    X = np.stack([thick, humid, temp, fan, salt_h, size], 1)
    return X, y


Xo, yo = make_hides(6000, "old")
Xn, yn = make_hides(900, "new")
Xn_val, yn_val = make_hides(600, "new")
Xo_val, yo_val = make_hides(600, "old")
mu, sd = Xo.mean(0), Xo.std(0)
ymu, ysd = yo.mean(), yo.std()


def prep(X, y):
    return mx.array(((X - mu) / sd).astype(np.float32)), mx.array(((y - ymu) / ysd).astype(np.float32))


Xo, yo = prep(Xo, yo)
Xn, yn = prep(Xn, yn)
Xn_val, yn_val = prep(Xn_val, yn_val)
Xo_val, yo_val = prep(Xo_val, yo_val)


class DryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


class PrincipalAdapter(nn.Module):
    """W = W_res + B @ A with (A, B) taken from the top-r singular triplets of W."""

    def __init__(self, linear, r):
        super().__init__()
        W = linear.weight
        U, S, Vt = mx.linalg.svd(W, stream=mx.cpu)
        root = mx.sqrt(S[:r])
        self.A = root[:, None] * Vt[:r]            # (r, in)
        self.B = U[:, :r] * root[None, :]          # (out, r)
        self.residual = W - self.B @ self.A        # frozen
        self.bias = linear.bias                    # frozen

    def __call__(self, x):
        return x @ self.residual.T + (x @ self.A.T) @ self.B.T + self.bias


def rmse_days(model, X, y):
    return float(mx.sqrt(mx.mean((model(X) - y) ** 2))) * ysd


def sx(tag, **kv):
    parts = []
    for k, v in kv.items():
        k = k.replace("_", "-")
        if isinstance(v, float):
            parts.append(f":{k} {v:.4g}")
        else:
            parts.append(f":{k} {v}")
    print(f"({tag} " + " ".join(parts) + ")", flush=True)


# ---------------- stage 0: the old studio's network (fitted quietly) ------------
t0 = time.time()
base = DryNet()
opt0 = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 1500, 1e-4))
loss0 = lambda m, X, y: mx.mean((m(X) - y) ** 2)
vg0 = nn.value_and_grad(base, loss0)
for step in range(1500):
    idx = mx.array(rng.integers(0, Xo.shape[0], 128))
    l, g = vg0(base, Xo[idx], yo[idx])
    opt0.update(base, g)
    mx.eval(base.parameters(), opt0.state, l)
sx("base-fit", studio="old", steps=1500, old_val_rmse_days=rmse_days(base, Xo_val, yo_val),
   new_val_rmse_days=rmse_days(base, Xn_val, yn_val), noise_floor_days=NOISE, secs=round(time.time() - t0, 1))

tmp = tempfile.mkdtemp()
base_path = os.path.join(tmp, "old_studio.safetensors")
base.save_weights(base_path)
BASE_NEW = rmse_days(base, Xn_val, yn_val)
BASE_OLD = rmse_days(base, Xo_val, yo_val)

RANK = 4


def build_adapted():
    net = DryNet()
    net.load_weights(base_path)
    net.freeze()
    for name in ("l1", "l2", "out"):
        lin = getattr(net, name)
        r = min(RANK, min(lin.weight.shape))
        setattr(net, name, PrincipalAdapter(lin, r))
    net.freeze()
    for name in ("l1", "l2", "out"):
        getattr(net, name).unfreeze(keys=["A", "B"], recurse=False)
    return net


model = build_adapted()
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
split_gap = float(mx.max(mx.abs(model(Xn_val) - base(Xn_val))))
sx("adapters", rank=RANK, trainable=n_train, total=n_all, split_gap=split_gap)
frozen_before = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if k.split(".")[-1] in ("residual", "bias")}

STEPS, WARM, BS = 800, 60, 64
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-5)], [WARM])


def loss_fn(m, X, y):
    return mx.mean((m(X) - y) ** 2)


def run(model, opt, start, stop):
    vg = nn.value_and_grad(model, loss_fn)
    for step in range(start, stop + 1):
        idx = mx.array(rng.integers(0, Xn.shape[0], BS))
        l, g = vg(model, Xn[idx], yn[idx])
        opt.update(model, g)
        lr_now = float(opt.learning_rate)
        mx.eval(model.parameters(), opt.state, l)
        if step in (1, 2, 3) or step % 100 == 0:
            new_rmse = rmse_days(model, Xn_val, yn_val)
            sx("step", n=step, lr=lr_now, train_mse=float(l), new_rmse_days=new_rmse,
               vs_frozen_days=new_rmse - BASE_NEW, old_rmse_days=rmse_days(model, Xo_val, yo_val))


opt = optim.Adam(learning_rate=sched)
run(model, opt, 1, 400)

# ---------------- pause: write adapters + optimizer state, rebuild, resume ------
ckpt = os.path.join(tmp, "adapters.safetensors")
ostate = os.path.join(tmp, "adam.safetensors")
mx.save_safetensors(ckpt, dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(ostate, dict(tree_flatten(opt.state)))
before = rmse_days(model, Xn_val, yn_val)
del model, opt

model = build_adapted()
model.load_weights(ckpt, strict=False)
opt = optim.Adam(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(ostate).items()))
after = rmse_days(model, Xn_val, yn_val)
sx("resumed", from_file=os.path.basename(ckpt), opt_step=int(opt.state["step"]),
   rmse_before=before, rmse_after=after)
run(model, opt, 401, STEPS)

drift = max(float(mx.max(mx.abs(v - frozen_before[k]))) for k, v in tree_flatten(model.parameters()) if k in frozen_before)
final_new = rmse_days(model, Xn_val, yn_val)
sx("summary", new_rmse_days=final_new, frozen_base_new_rmse_days=BASE_NEW,
   predict_mean_days=float(mx.sqrt(mx.mean((yn_val - yn.mean()) ** 2))) * ysd,
   noise_floor_days=NOISE, old_rmse_days=rmse_days(model, Xo_val, yo_val),
   frozen_base_old_rmse_days=BASE_OLD, frozen_drift=drift, secs=round(time.time() - t0, 1))
