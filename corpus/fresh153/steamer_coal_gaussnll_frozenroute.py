# Paddle-steamer coal burn (kg/h) per leg, heteroscedastic Gaussian head.
# Route embedding comes from last season's model and stays frozen on purpose.
# Hand-written SGD with momentum; lr ramps up from exactly 0, then cosine.
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rs = np.random.RandomState(11)
N_ROUTES = 6
N = 3000


def simulate(n):
    route = rs.randint(0, N_ROUTES, n)
    speed = rs.uniform(4, 12, n)          # knots
    current = rs.uniform(-2, 2, n)        # knots, + = against
    load = rs.uniform(50, 400, n)         # passengers
    wind = rs.uniform(0, 25, n)           # knots
    base = 60 + 9 * (speed + current) + 0.08 * load + 15 * np.sin(route)
    sigma = 4 + 0.6 * wind                # gusty legs are less predictable
    coal = base + rs.normal(0, 1, n) * sigma
    x = np.stack([(speed - 8) / 2.3, current, (load - 225) / 100, wind / 10], 1)
    return (mx.array(route.astype(np.int32)), mx.array(x.astype(np.float32)),
            mx.array(((coal - 180) / 40).astype(np.float32)))


tr = simulate(N)
va = simulate(800)


class CoalModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.route_emb = nn.Embedding(N_ROUTES, 3)
        self.body = nn.Sequential(nn.Linear(4 + 3, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.mu = nn.Linear(32, 1)
        self.log_var = nn.Linear(32, 1)

    def __call__(self, r, x):
        h = self.body(mx.concatenate([x, self.route_emb(r)], axis=1))
        return self.mu(h).squeeze(1), self.log_var(h).squeeze(1)


mx.random.seed(5)
model = CoalModel()
model.route_emb.freeze()  # inherited embedding, not retrained
emb_before = np.array(model.route_emb.weight)


def nll(model, r, x, y):
    mu, lv = model(r, x)
    return 0.5 * mx.mean(lv + (y - mu) ** 2 / mx.exp(lv))


grad_fn = nn.value_and_grad(model, nll)
velocity = tree_map(lambda p: mx.zeros_like(p), model.trainable_parameters())

# reference: a constant Gaussian fitted to the training targets
ym = float(mx.mean(tr[2]))
yv = float(mx.var(tr[2]))
ref_nll = 0.5 * (math.log(yv) + 1.0)

_, g = grad_fn(model, *tr)
flat = tree_flatten(g)
print(json.dumps({"event": "grad_check", "trainable": [k for k, _ in flat],
                  "min_abs_sum": round(min(float(mx.abs(v).sum()) for _, v in flat), 6)}))

EPOCHS, BS, PEAK, WARM, MOM = 60, 100, 0.05, 5, 0.9
steps_per_epoch = N // BS
total = EPOCHS * steps_per_epoch
step = 0
for epoch in range(EPOCHS):
    perm = mx.array(rs.permutation(N))
    run = 0.0
    for b in range(steps_per_epoch):
        if step < WARM * steps_per_epoch:
            lr = PEAK * step / (WARM * steps_per_epoch)   # 0.0 at the very first step
        else:
            t = (step - WARM * steps_per_epoch) / (total - WARM * steps_per_epoch)
            lr = 0.5 * PEAK * (1 + math.cos(math.pi * t))
        idx = perm[b * BS:(b + 1) * BS]
        loss, grads = grad_fn(model, tr[0][idx], tr[1][idx], tr[2][idx])
        velocity = tree_map(lambda v, g: MOM * v + g, velocity, grads)
        new = tree_map(lambda p, v: p - lr * v, model.trainable_parameters(), velocity)
        model.update(new)
        mx.eval(model.parameters(), velocity, loss)
        run += float(loss)
        step += 1
    if epoch % 5 == 0 or epoch == EPOCHS - 1:
        v_nll = float(nll(model, *va))
        mu, lv = model(*va[:2])
        rmse_kg = float(mx.sqrt(mx.mean((mu - va[2]) ** 2))) * 40
        print(json.dumps({"epoch": epoch, "lr": round(lr, 5), "train_nll": round(run / steps_per_epoch, 4),
                          "val_nll": round(v_nll, 4), "ref_nll": round(ref_nll, 4),
                          "rmse_kg_h": round(rmse_kg, 2), "mean_sigma_kg_h": round(float(mx.mean(mx.exp(0.5 * lv))) * 40, 2)}))

emb_drift = float(np.abs(np.array(model.route_emb.weight) - emb_before).max())
print(json.dumps({"event": "done", "steps": step, "route_emb_max_drift": emb_drift}))
