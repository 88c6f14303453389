"""Rolling resistance of road-bike tyres: learn on drum-rig data, then adapt to
road roll-down data with a linear probe (trunk frozen) followed by a full fine-tune.
Prints tab-separated rows."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
mx.random.seed(7)

FEATS = ["pressure_bar", "width_mm", "load_kg", "temp_c", "speed_kmh", "tread_mm"]


def make_tyres(n, road=False):
    p = rng.uniform(4.0, 8.5, n)
    w = rng.choice([23.0, 25.0, 28.0, 30.0, 32.0], n) + rng.normal(0, 0.4, n)
    load = rng.uniform(35.0, 60.0, n)
    t = rng.uniform(5.0, 32.0, n)
    v = rng.uniform(15.0, 45.0, n)
    tread = rng.uniform(0.5, 3.0, n)
    # made-up hysteresis law, Crr in kg per tonne
    crr = (3.2 + 9.0 / p - 0.035 * (w - 25.0) + 0.012 * load
           - 0.03 * (t - 20.0) + 0.004 * v + 0.35 * tread)
    if road:
        # rough tarmac: wide, soft tyres win; hard narrow ones chatter
        crr = crr + 0.06 * p ** 1.5 - 0.045 * (w - 25.0) + 0.25
    crr = crr + rng.normal(0, 0.12, n)
    X = np.stack([p, w, load, t, v, tread], 1).astype(np.float32)
    return X, crr.astype(np.float32)


Xs, ys = make_tyres(8000)
Xr, yr = make_tyres(1000, road=True)
Xr_tr, yr_tr, Xr_te, yr_te = Xr[:600], yr[:600], Xr[600:], yr[600:]

mu, sd = Xs.mean(0), Xs.std(0)
ymu, ysd = float(ys.mean()), float(ys.std())
norm = lambda X: mx.array((X - mu) / sd)
scale_y = lambda y: mx.array((y - ymu) / ysd)


class CrrNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.trunk(x)).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def evaluate(model, X, y):
    pred = np.array(model(norm(X))) * ysd + ymu
    err = pred - y
    r2 = 1.0 - np.mean(err ** 2) / np.var(y)
    return float(np.mean(np.abs(err))), 100.0 * r2


def grad_audit(grads, tag):
    leaves = tree_flatten(grads)
    zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
    print(f"#\t{tag}\tgrad_leaves={len(leaves)}\tall_zero={zero if zero else 'none'}")
    assert not zero


def run_phase(model, opt, X, y, epochs, bs, tag, t0):
    step_fn = nn.value_and_grad(model, mse)
    Xn, yn = norm(X), scale_y(y)
    n = X.shape[0]
    first = True
    for ep in range(1, epochs + 1):
        perm = np.random.default_rng(ep + 100 * len(tag)).permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            lr_used = float(opt.learning_rate)
            loss, grads = step_fn(model, Xn[idx], yn[idx])
            if first:
                grad_audit(grads, tag)
                first = False
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item(); cnt += 1
        mae, r2 = evaluate(model, Xr_te, yr_te)
        print(f"{tag}\t{ep}\t{lr_used:.2e}\t{tot / cnt:.4f}\t{mae:.3f}\t{r2:.1f}\t{time.time() - t0:.1f}")


t0 = time.time()
model = CrrNet()
mx.eval(model.parameters())
print("phase\tepoch\tlr\ttrain_mse_std\troad_mae_kgt\troad_r2_pct\tsecs")
mae, r2 = evaluate(model, Xr_te, yr_te)
print(f"init\t0\t-\t-\t{mae:.3f}\t{r2:.1f}\t0.0")

# 1) drum rig pre-training
pre_opt = optim.Adafactor(learning_rate=1e-2, relative_step=False, scale_parameter=False)
run_phase(model, pre_opt, Xs, ys, epochs=6, bs=64, tag="drum", t0=t0)

# 2) linear probe on the road data: trunk frozen on purpose, new head, lr warms up from 0
model.trunk.freeze()
model.head = nn.Linear(64, 1)
mx.eval(model.head.parameters())
trunk_before = tree_map(lambda a: a, model.trunk.parameters())
warm = optim.join_schedules([optim.linear_schedule(0.0, 0.05, 40), optim.cosine_decay(0.05, 400, 0.005)], [40])
lp_opt = optim.SGD(learning_rate=warm, momentum=0.9)
run_phase(model, lp_opt, Xr_tr, yr_tr, epochs=15, bs=32, tag="probe", t0=t0)
drift = max(float(mx.abs(a - b).max()) for (_, a), (_, b) in
            zip(tree_flatten(trunk_before), tree_flatten(model.trunk.parameters())))
print(f"#\tprobe\ttrunk_max_change={drift:.1e}")

# 3) full fine-tune, small lr
model.unfreeze()
ft_opt = optim.AdamW(learning_rate=3e-4, weight_decay=1e-4)
run_phase(model, ft_opt, Xr_tr, yr_tr, epochs=12, bs=32, tag="tune", t0=t0)
mae, r2 = evaluate(model, Xr_te, yr_te)
print(f"#\tdone\troad_mae_kgt={mae:.3f}\troad_r2_pct={r2:.1f}\tnoise_floor_mae={0.12 * 0.798:.3f}")
