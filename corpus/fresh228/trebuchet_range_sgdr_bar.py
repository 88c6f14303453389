# Trebuchet range table: regress throw distance (metres) from siege-engine settings.
# Cosine schedule with warm restarts; each cycle warms up linearly from lr = 0.
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

N_TRAIN, N_VAL = 4096, 1024
FEATS = ["counterweight_kg", "arm_ratio", "release_deg", "sling_m", "stone_kg", "headwind_ms"]


def make_throws(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    cw = 200.0 + 800.0 * u[:, 0]
    ratio = 3.0 + 3.0 * u[:, 1]
    rel = 30.0 + 30.0 * u[:, 2]
    sling = 1.0 + 2.0 * u[:, 3]
    stone = 5.0 + 20.0 * u[:, 4]
    wind = -4.0 + 8.0 * u[:, 5]
    eff = 0.35 * (1.0 - 0.04 * (ratio - 4.5) ** 2) * (1.0 + 0.08 * (sling - 2.0))
    v2 = 2.0 * 9.81 * 3.0 * eff * cw * ratio / (stone + 0.02 * cw)
    ang = mx.radians(rel + 15.0)
    dist = v2 * mx.sin(2.0 * ang) / 9.81 - 6.0 * wind
    dist = dist + 3.0 * mx.random.normal(shape=(n,), key=k2)
    x = mx.stack([cw, ratio, rel, sling, stone, wind], axis=1)
    return x, dist


key = mx.random.key(2024)
ktr, kva = mx.random.split(key)
x_tr, y_tr = make_throws(N_TRAIN, ktr)
x_va, y_va = make_throws(N_VAL, kva)
mu, sd = x_tr.mean(axis=0), x_tr.std(axis=0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
x_tr, x_va = (x_tr - mu) / sd, (x_va - mu) / sd
t_tr, t_va = (y_tr - y_mu) / y_sd, (y_va - y_mu) / y_sd


class RangeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = RangeNet()
mx.eval(model.parameters())

CYCLES = [60, 120, 240]  # steps per cycle (SGDR doubling)
WARM = 10
PEAK = [0.08, 0.05, 0.03]
BATCH = 128


def lr_at(cycle, step):
    if step < WARM:
        return PEAK[cycle] * step / WARM  # step 0 -> exactly 0
    frac = (step - WARM) / max(1, CYCLES[cycle] - WARM)
    return PEAK[cycle] * 0.5 * (1.0 + math.cos(math.pi * frac))


opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)


def loss_fn(m, xb, tb):
    return nn.losses.huber_loss(m(xb), tb, delta=1.0, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def rmse_m(x, y):
    pred = model(x) * y_sd + y_mu
    return mx.sqrt(mx.mean((pred - y) ** 2)).item()


baseline = mx.sqrt(mx.mean((y_va - y_mu) ** 2)).item()
print(f"throws: train={N_TRAIN} val={N_VAL}  range {y_tr.min().item():.0f}..{y_tr.max().item():.0f} m")
print(f"reference: predict-the-mean val RMSE = {baseline:.2f} m")

perm_key = mx.random.key(11)
t0 = time.time()
for c, n_steps in enumerate(CYCLES):
    # reset momentum at each restart, as in the SGDR recipe used here
    opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)
    run = 0.0
    for s in range(n_steps):
        perm_key, sub = mx.random.split(perm_key)
        idx = mx.random.randint(0, N_TRAIN, (BATCH,), key=sub)
        opt.learning_rate = lr_at(c, s)
        loss, grads = step_fn(model, x_tr[idx], t_tr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run = 0.9 * run + 0.1 * loss.item() if s else loss.item()
        if (s + 1) % (n_steps // 6) == 0 or s == n_steps - 1:
            done = (s + 1) / n_steps
            bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
            el = time.time() - t0
            sys.stdout.write(
                f"cycle {c + 1}/{len(CYCLES)} |{bar}| {s + 1:3d}/{n_steps} "
                f"[{el:5.1f}s, lr={opt.learning_rate.item():.4f}, huber={run:.4f}]\n"
            )
    gsq = sum(mx.sum(g * g).item() for _, g in nn.utils.tree_flatten(grads))
    wsq = sum(mx.sum(p * p).item() for _, p in nn.utils.tree_flatten(model.parameters()))
    print(
        f"  audit cycle {c + 1}: val RMSE {rmse_m(x_va, y_va):7.2f} m (ref {baseline:.2f} m)  "
        f"|grad|={math.sqrt(gsq):.3e}  |w|={math.sqrt(wsq):.3f}"
    )

final = rmse_m(x_va, y_va)
print(f"done: val RMSE {final:.2f} m vs reference {baseline:.2f} m  ({100 * (1 - final / baseline):.1f}% lower)")
