# Theme-park operations: forecast the posted wait (hours) of a ride 30 minutes ahead,
# with a predicted spread, so the app can show a range. Records go out as JSON lines.
import json, math, time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(3)
LOG2PI = math.log(2 * math.pi)


def make(n, key):
    k = mx.random.split(key, 8)
    hour = mx.random.uniform(9, 22, (n,), key=k[0])
    crowd = mx.random.uniform(0, 1, (n,), key=k[1])
    now_wait = mx.random.uniform(0, 1.5, (n,), key=k[2])
    temp = mx.random.uniform(10, 36, (n,), key=k[3])
    rain = (mx.random.uniform(0, 1, (n,), key=k[4]) < 0.15).astype(mx.float32)
    show = (mx.random.uniform(0, 1, (n,), key=k[5]) < 0.2).astype(mx.float32)
    peak = mx.exp(-((hour - 14.5) ** 2) / 8)
    mean = (0.55 * now_wait + 0.45 * crowd * peak + 0.01 * mx.maximum(temp - 28, 0)
            - 0.12 * rain - 0.18 * show * crowd + 0.05)
    spread = 0.02 + 0.06 * crowd * peak + 0.05 * rain
    y = mx.maximum(mean + spread * mx.random.normal((n,), key=k[6]), 0.0)
    X = mx.stack([mx.sin(hour / 24 * 2 * math.pi), mx.cos(hour / 24 * 2 * math.pi),
                  crowd, now_wait, (temp - 23) / 8, rain, show], axis=1)
    return X, y


Xtr, ytr = make(8000, mx.random.key(21))
Xva, yva = make(3000, mx.random.key(22))
base_rmse_min = 60 * mx.sqrt(((yva - ytr.mean()) ** 2).mean()).item()
base_nll = 0.5 * (LOG2PI + math.log(ytr.var().item()) + 1.0)


class WaitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(7, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.mu = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1), self.logvar(h).squeeze(-1)


def nll(m, x, y):
    mu, lv = m(x)
    return (0.5 * (LOG2PI + lv + (y - mu) ** 2 * mx.exp(-lv))).mean()


model = WaitNet()
opt = optim.Adam(learning_rate=3e-3)
vg = nn.value_and_grad(model, nll)

EPOCHS, BS = 32, 250
best, stale, t0 = float("inf"), 0, time.time()
print(json.dumps({"event": "start", "n_train": 8000, "n_val": 3000,
                  "baseline_nll_nats": round(base_nll, 4), "baseline_rmse_min": round(base_rmse_min, 3)}))
for ep in range(1, EPOCHS + 1):
    perm = mx.random.permutation(8000)
    tot, nb = mx.array(0.0), 0
    for i in range(0, 8000, BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, Xtr[idx], ytr[idx])
        opt.update(model, g)
        tot = tot + loss; nb += 1
        mx.eval(model.parameters(), opt.state, tot)
    mu, lv = model(Xva)
    v_nll = nll(model, Xva, yva).item()
    rmse_min = 60 * mx.sqrt(((mu - yva) ** 2).mean()).item()
    z = mx.abs(yva - mu) * mx.exp(-0.5 * lv)
    cover90 = (z < 1.6449).astype(mx.float32).mean().item()
    if v_nll < best - 1e-3:
        best, stale = v_nll, 0
    else:
        stale += 1
    if stale >= 4:
        old = opt.learning_rate.item()
        opt.learning_rate = old * 0.5
        stale = 0
        print(json.dumps({"event": "lr_halved", "ep": ep, "from": old, "to": old * 0.5}))
    if ep & (ep - 1) == 0 or ep == EPOCHS:
        print(json.dumps({"ep": ep, "train_nll_nats": round(tot.item() / nb, 4), "val_nll_nats": round(v_nll, 4),
                          "val_rmse_min": round(rmse_min, 3), "cover90": round(cover90, 4),
                          "lr": opt.learning_rate.item(), "wall_s": round(time.time() - t0, 2)}))
print(json.dumps({"event": "done", "best_val_nll_nats": round(best, 4),
                  "val_rmse_min": round(rmse_min, 3), "baseline_rmse_min": round(base_rmse_min, 3)}))
