"""Lathe turning: predict surface roughness Ra (um) of a turned shaft from the
cutting set-up. Synthetic shop-floor log, Lion + warmup-from-zero + SGDR warm
restarts, JSON lines out."""
import json
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
rs = np.random.RandomState(11)


def shop_log(n):
    rpm = rs.uniform(400, 2400, n)
    feed = rs.uniform(0.05, 0.35, n)          # mm/rev
    doc = rs.uniform(0.2, 3.0, n)             # depth of cut, mm
    nose = rs.choice([0.2, 0.4, 0.8, 1.2], n)  # tool nose radius, mm
    overhang = rs.uniform(20, 90, n)          # tool stick-out, mm
    wear = rs.uniform(0, 0.3, n)              # flank wear VB, mm
    coolant = rs.randint(0, 2, n)
    # textbook Ra ~ f^2 / (32 r) (mm -> um), plus chatter and wear terms
    ra = 1000 * feed ** 2 / (32 * nose)
    chatter = 0.9 * np.maximum(0, (overhang / 50) ** 3 * doc / 2 - 0.6) * (1 + 0.5 * np.sin(rpm / 180))
    ra = ra + chatter + 2.5 * wear ** 1.5 - 0.25 * coolant + 0.3
    ra = np.clip(ra * np.exp(rs.normal(0, 0.06, n)), 0.1, None)
    X = np.stack([rpm / 1000, feed * 10, doc, nose, overhang / 50, wear * 10, coolant], 1)
    return X.astype(np.float32), np.log(ra).astype(np.float32), ra.astype(np.float32)


Xtr, ytr, ratr = shop_log(3000)
Xte, yte, rate = shop_log(600)
mu_x, sd_x = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu_x) / sd_x, (Xte - mu_x) / sd_x
Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))


class RaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


net = RaNet()
opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y) ** 2)


vg = nn.value_and_grad(net, loss_fn)
state = [net.state, opt.state]


def step(x, y):
    loss, g = vg(net, x, y)
    opt.update(net, g)
    return loss


step = mx.compile(step, inputs=state, outputs=state)

PEAK, WARM, CYCLES, BS = 1e-3, 60, [200, 400, 800], 128
base_rmse = float(np.sqrt(np.mean((np.log(rate) - np.log(ratr).mean()) ** 2)))


def schedule(t):
    if t < WARM:
        return PEAK * t / WARM                  # starts at exactly 0
    t -= WARM
    for L in CYCLES:
        if t < L:
            return 0.5 * PEAK * (1 + math.cos(math.pi * t / L))
        t -= L
    return 0.0


from mlx.utils import tree_flatten
_, g0 = vg(net, Xtr[:256], ytr[:256])
gn = {k: round(float(mx.linalg.norm(v).item()), 5) for k, v in tree_flatten(g0)}
print(json.dumps({"audit": "grad_norms_at_init", "all_nonzero": all(v > 0 for v in gn.values()), **gn}))

total = WARM + sum(CYCLES)
t0 = time.time()
cycle_id, run = 0, 0.0
for t in range(total):
    lr = schedule(t)
    opt.learning_rate = mx.array(lr)
    idx = mx.array(rs.randint(0, 3000, BS))
    loss = step(Xtr[idx], ytr[idx])
    mx.eval(loss, net.parameters(), opt.state)
    cycle_id = int(np.searchsorted(np.cumsum([WARM] + CYCLES), t, side="right"))
    run = 0.9 * run + 0.1 * loss.item() if t else loss.item()
    edges = np.cumsum([WARM] + CYCLES)
    if t % 100 == 0 or t + 1 in edges:
        pred = net(Xte)
        rmse = math.sqrt(mx.mean((pred - yte) ** 2).item())
        ra_hat = np.exp(np.array(pred))
        mape = float(np.mean(np.abs(ra_hat - rate) / rate) * 100)
        print(json.dumps({"it": t, "cycle": cycle_id, "lr": round(lr, 7), "train_mse_ema": round(run, 5),
                          "test_rmse_logRa": round(rmse, 4), "mean_pred_baseline": round(base_rmse, 4),
                          "Ra_mape_pct": round(mape, 2), "wall_s": round(time.time() - t0, 2)}))
pred = np.exp(np.array(net(Xte)))
print(json.dumps({"final": True, "Ra_um_true_mean": round(float(rate.mean()), 3),
                  "Ra_um_pred_mean": round(float(pred.mean()), 3),
                  "Ra_mape_pct": round(float(np.mean(np.abs(pred - rate) / rate) * 100), 2),
                  "baseline_rmse_logRa": round(base_rmse, 4)}))
