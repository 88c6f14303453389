# Floating pontoon bridge permits: regress the allowed vehicle load (tonnes)
# from crossing-survey readings. Stage A uses only calm-water surveys; stage B
# adds flood-season surveys (fast current, debris) so the loss jumps when it starts.
import json
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(2031)
F = 8


def make_surveys(n, flood_share):
    h = mx.random.uniform(0.25, 1.2, (n,))           # pontoon freeboard m
    tension = mx.random.uniform(-35.0, -5.0, (n,))       # anchor-cable pretension (neg kN/10)
    wave = mx.random.uniform(0.0, 0.4, (n,))         # wave height m
    age = mx.random.uniform(5.0, 90.0, (n,))         # days since last hull inspection
    leak = mx.random.bernoulli(0.2, (n,)).astype(mx.float32)  # leaking float chamber
    flood = mx.random.bernoulli(flood_share, (n,)).astype(mx.float32)  # flood-season flag
    debris = flood * mx.random.uniform(0.0, 0.3, (n,))  # debris load on upstream face
    speed = mx.random.uniform(10.0, 35.0, (n,))      # posted crossing speed km/h
    A = 4.0 - 1.6 * flood - 3.0 * debris - 0.8 * leak + 0.02 * (-tension - 5.0)
    A = A - 1.2 * wave + 0.4 * mx.tanh((age - 30.0) / 20.0) - 0.01 * speed
    y = A * (100.0 * h) ** 2 / 1000.0 + 0.3 * mx.random.normal((n,))
    X = mx.stack([h, tension / 10.0, wave * 5.0, age / 30.0, leak, flood,
                  debris * 5.0, speed / 10.0], axis=1)
    return X, y[:, None]


XA, yA = make_surveys(3000, 0.0)
XB, yB = make_surveys(3000, 0.6)
Xv, yv = make_surveys(1000, 0.6)
mu, sd = XB.mean(0), XB.std(0) + 1e-6
XA, XB, Xv = (XA - mu) / sd, (XB - mu) / sd, (Xv - mu) / sd
mx.eval(XA, yA, XB, yB, Xv, yv)

# reference: ordinary least squares on the stage-B surveys (with bias)
Xb1 = mx.concatenate([XB, mx.ones((XB.shape[0], 1))], axis=1)
w_ols = mx.linalg.solve(Xb1.T @ Xb1 + 1e-3 * mx.eye(F + 1), Xb1.T @ yB, stream=mx.cpu)
pred_ref = mx.concatenate([Xv, mx.ones((Xv.shape[0], 1))], axis=1) @ w_ols
ss_tot = ((yv - yv.mean()) ** 2).sum()
ref_r2 = (1.0 - ((pred_ref - yv) ** 2).sum() / ss_tot).item() * 100.0


class DeckNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(F, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


model = DeckNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)

# audit: every tensor must receive gradient before we commit to a run
_, g0 = vg(model, XB[:256], yB[:256])
gn = {k: mx.linalg.norm(v.reshape(-1)).item() for k, v in tree_flatten(g0)}
print("grad audit | " + " ".join(f"{k}={v:.2e}" for k, v in gn.items()))
assert all(v > 0 for v in gn.values())

stages = [("A_calm", XA, yA, 900, 1e-3), ("B_flood", XB, yB, 1500, 6e-4)]
summary = []
for name, X, Y, steps, peak in stages:
    warm = 150
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm),
         optim.cosine_decay(peak, steps - warm, peak * 0.05)], [warm])
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    for it in range(steps):
        idx = mx.random.randint(0, X.shape[0], (128,))
        loss, grads = vg(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 150 == 0 or it == steps - 1:
            pv = model(Xv)
            r2 = (1.0 - ((pv - yv) ** 2).sum() / ss_tot).item() * 100.0
            rmse = mx.sqrt(((pv - yv) ** 2).mean()).item()
            print(json.dumps({"stage": name, "it": it,
                              "lr": round(float(sched(mx.array(it)).item()), 7),
                              "huber_t": round(loss.item(), 4),
                              "val_rmse_t": round(rmse, 3),
                              "val_r2_pct": round(r2, 2),
                              "ols_r2_pct": round(ref_r2, 2)}))
    summary.append((name, steps, loss.item(), rmse, r2))

print("\nstage        steps  last_huber  val_rmse(t)  val_R2(%)  OLS_R2(%)")
for name, steps, l, rm, r2 in summary:
    print(f"{name:<12} {steps:5d}  {l:10.4f}  {rm:11.3f}  {r2:9.2f}  {ref_r2:9.2f}")
