"""Race-engineering toy: predict lap time from stint state, hand-rolled SGD+momentum.

Pure-function model (a dict of arrays), mx.value_and_grad over the dict, a compiled
step function, momentum buffers kept by hand. Report goes out as a Unix mbox: one
mail per report from the "pitwall" to the "engineer".
"""
import math
import time
import numpy as np
import mlx.core as mx

rng = np.random.default_rng(11)
COMPOUNDS = ["soft", "medium", "hard"]
BASE = np.array([0.0, 0.45, 0.85])          # pace offset per compound (s)
DEG = np.array([0.085, 0.050, 0.030])       # linear degradation per lap (s)
CLIFF = np.array([14.0, 24.0, 34.0])        # lap where the tyre falls off


def make_laps(n):
    comp = rng.integers(0, 3, n)
    age = rng.integers(0, 40, n).astype(np.float64)
    fuel = rng.uniform(5, 105, n)                      # kg
    temp = rng.uniform(18, 48, n)                      # track temp, C
    cliff = np.maximum(0.0, age - CLIFF[comp])
    t = (91.0 + BASE[comp] + DEG[comp] * age + 0.18 * cliff ** 1.5
         + 0.032 * fuel + 0.012 * (temp - 32.0) ** 2 / 10.0
         + rng.normal(0, 0.12, n))
    x = np.stack([age / 40.0, fuel / 100.0, (temp - 32.0) / 10.0], 1)
    x = np.concatenate([x, np.eye(3)[comp]], 1).astype(np.float32)
    return x, t.astype(np.float32), comp


xtr, ttr, _ = make_laps(6000)
xva, tva, cva = make_laps(1500)
mu, sd = float(ttr.mean()), float(ttr.std())
Xtr, Ytr = mx.array(xtr), mx.array((ttr - mu) / sd)
Xva, Yva = mx.array(xva), mx.array(tva)


def init(din=6, h=48):
    k = mx.random.key(3)
    k1, k2, k3 = mx.random.split(k, 3)
    return {
        "w1": mx.random.normal((din, h), key=k1) * math.sqrt(2.0 / din),
        "b1": mx.zeros((h,)),
        "w2": mx.random.normal((h, h), key=k2) * math.sqrt(2.0 / h),
        "b2": mx.zeros((h,)),
        "w3": mx.random.normal((h, 1), key=k3) * math.sqrt(1.0 / h),
        "b3": mx.zeros((1,)),
    }


def forward(p, x):
    h = mx.maximum(x @ p["w1"] + p["b1"], 0.0)
    h = mx.maximum(h @ p["w2"] + p["b2"], 0.0) + h
    return (h @ p["w3"] + p["b3"]).squeeze(-1)


def loss_fn(p, x, y):
    return mx.mean((forward(p, x) - y) ** 2)


grad_fn = mx.value_and_grad(loss_fn)
MOM = 0.9


@mx.compile
def step(p, v, x, y, lr):
    loss, g = grad_fn(p, x, y)
    v = {k: MOM * v[k] + g[k] for k in p}
    p = {k: p[k] - lr * v[k] for k in p}
    return loss, p, v


def mail(n, subject, lines):
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(1700000000 + 60 * n))
    print(f"From pitwall@garage.local {stamp}")
    print("From: Pit Wall <pitwall@garage.local>")
    print("To: Race Engineer <engineer@garage.local>")
    print(f"Subject: {subject}")
    print(f"Message-ID: <stint-{n:03d}@garage.local>")
    print()
    for ln in lines:
        print(ln)
    print()


params = init()
mx.eval(params)

# gradient audit on the first batch
l0, g0 = grad_fn(params, Xtr[:128], Ytr[:128])
zero = [k for k, g in g0.items() if float(mx.abs(g).max()) == 0.0]
base_rmse = float(np.sqrt(np.mean((tva - ttr.mean()) ** 2)))
mail(0, "grad check", [f"leaves={len(g0)} zero_grad_leaves={zero} loss0={float(l0):.4f}",
                       f"constant-predictor val RMSE = {base_rmse:.3f} s"])

vel = {k: mx.zeros_like(v) for k, v in params.items()}
EPOCHS, BS = 30, 100
steps_per = len(xtr) // BS
total = EPOCHS * steps_per
lr0, it = 0.02, 0
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(len(xtr)))
    run = 0.0
    for b in range(steps_per):
        idx = perm[b * BS:(b + 1) * BS]
        lr = lr0 * 0.5 * (1 + math.cos(math.pi * it / total)) + 1e-4
        loss, params, vel = step(params, vel, Xtr[idx], Ytr[idx], mx.array(lr))
        mx.eval(loss, params, vel)
        run += loss.item()
        it += 1
    if ep in (1, 2, 3) or ep % 5 == 0:
        pred = np.array(forward(params, Xva)) * sd + mu
        err = pred - tva
        per = [f"  {c:<6} mae={np.abs(err[cva == i]).mean():.3f}s" for i, c in enumerate(COMPOUNDS)]
        mail(ep, f"stint report epoch {ep}/{EPOCHS}",
             [f"train_mse_std={run / steps_per:.5f} lr={lr:.5f}",
              f"val_rmse={np.sqrt(np.mean(err ** 2)):.3f}s val_mae={np.abs(err).mean():.3f}s",
              *per, f"elapsed={time.time() - t0:.1f}s"])

# what the model thinks of a soft stint
ages = np.arange(0, 30, 5)
q = np.stack([ages / 40.0, np.full(6, 0.5), np.zeros(6)], 1)
q = np.concatenate([q, np.tile([1, 0, 0], (6, 1))], 1).astype(np.float32)
pred = np.array(forward(params, mx.array(q))) * sd + mu
mail(EPOCHS + 1, "soft-tyre stint forecast (50 kg fuel, 32C)",
     [f"  lap age {a:2d}: {p:.2f}s" for a, p in zip(ages, pred)])
