# Highland bagpipe workshop: is a chanter reed too hard, balanced, or too soft?
# 6 bench readings per reed -> 3 classes.  Hand-written MLP + hand-written
# Nesterov momentum inside an mx.compile'd step.  Two stages: stage 1 only
# sees fresh reeds (easy), stage 2 adds aged/damp reeds (harder) and restarts
# the step counter and the warm-up (lr starts at exactly 0 in both stages).
# Stage 2 uses early stopping and restores the best weights.
import json
import math

import numpy as np
import mlx.core as mx

rs = np.random.default_rng(2024)
CLASSES = ["hard", "balanced", "soft"]


def reeds(n, aged_share):
    pressure = rs.normal(4.6, 0.7, n)            # blowing pressure, kPa
    moisture = rs.uniform(20, 80, n)             # %
    chanter_c = rs.normal(0, 12, n)              # chanter pitch offset, cents
    drone_c = rs.normal(0, 8, n)                 # drone beat vs chanter, cents
    temp = rs.normal(19, 4, n)                   # workshop deg C
    age = np.where(rs.random(n) < aged_share, rs.uniform(30, 200, n), rs.uniform(0, 14, n))  # days
    stiff = 0.9 * (pressure - 4.6) + 0.05 * chanter_c - 0.025 * (moisture - 50) \
        - 0.004 * age + 0.02 * np.abs(drone_c) * np.sign(chanter_c) + 0.03 * (temp - 19)
    stiff = stiff + rs.normal(0, 0.25 + 0.004 * age, n)   # old reeds are erratic
    y = np.where(stiff > 0.45, 0, np.where(stiff < -0.45, 2, 1))
    X = np.stack([pressure, moisture, chanter_c, drone_c, temp, np.log1p(age)], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xe, ye = reeds(3000, 0.0)      # stage 1: fresh reeds only
Xh, yh = reeds(6000, 0.6)      # stage 2: mixed bench
Xv, yv = reeds(1500, 0.6)      # validation looks like stage 2
m, s = Xh.mean(0), Xh.std(0)
norm = lambda a: mx.array((a - m) / s)
Xe, Xh, Xv = norm(Xe), norm(Xh), norm(Xv)
ye, yh, yv = mx.array(ye), mx.array(yh), mx.array(yv)


def init(key):
    k1, k2, k3 = mx.random.split(key, 3)
    return {
        "W1": mx.random.normal((6, 48), key=k1) * math.sqrt(2 / 6), "b1": mx.zeros((48,)),
        "W2": mx.random.normal((48, 48), key=k2) * math.sqrt(2 / 48), "b2": mx.zeros((48,)),
        "W3": mx.random.normal((48, 3), key=k3) * 0.1, "b3": mx.zeros((3,)),
    }


def logits(p, x):
    h = mx.maximum(x @ p["W1"] + p["b1"], 0)
    h = mx.maximum(h @ p["W2"] + p["b2"], 0)
    return h @ p["W3"] + p["b3"]


def xent(p, x, y):
    z = logits(p, x)
    return mx.mean(mx.logsumexp(z, axis=1) - mx.take_along_axis(z, y[:, None], axis=1)[:, 0])


MU, WD = 0.9, 1e-4


@mx.compile
def step(p, v, x, y, lr):
    loss, g = mx.value_and_grad(xent)(p, x, y)
    new_p, new_v = {}, {}
    for k in p:
        gk = g[k] + WD * p[k]
        vk = MU * v[k] + gk
        new_v[k] = vk
        new_p[k] = p[k] - lr * (gk + MU * vk)     # Nesterov
    return new_p, new_v, loss


def err_pct(p, x, y):
    return 100.0 * mx.mean(mx.argmax(logits(p, x), axis=1) != y).item()


params = init(mx.random.key(5))
vel = {k: mx.zeros_like(a) for k, a in params.items()}
_, g0 = mx.value_and_grad(xent)(params, Xe[:512], ye[:512])
print("# grad check:", {k: f"{mx.linalg.norm(a).item():.2e}" for k, a in g0.items()})
majority = 100.0 - 100.0 * max(mx.mean(yv == c).item() for c in range(3))
print(f"# val majority-class error {majority:.1f}%  classes {CLASSES}")

BS = 128
STAGES = [dict(name="fresh", X=Xe, y=ye, steps=600, peak=0.05, warm=60, patience=None),
          dict(name="mixed", X=Xh, y=yh, steps=1800, peak=0.03, warm=100, patience=6)]
for si, st in enumerate(STAGES, 1):
    n = st["X"].shape[0]
    best = (float("inf"), None, -1)
    bad = 0
    run = 0.0
    for t in range(st["steps"]):            # counter restarts each stage
        lr = st["peak"] * (t / st["warm"] if t < st["warm"] else
                           0.5 * (1 + math.cos(math.pi * (t - st["warm"]) / (st["steps"] - st["warm"]))))
        idx = mx.array(rs.integers(0, n, BS))
        params, vel, loss = step(params, vel, st["X"][idx], st["y"][idx], mx.array(lr, dtype=mx.float32))
        mx.eval(params, vel, loss)
        run = loss.item() if t == 0 else 0.95 * run + 0.05 * loss.item()
        if t % 100 == 0 or t == st["steps"] - 1:
            ve = err_pct(params, Xv, yv)
            wn = math.sqrt(sum(mx.sum(a * a).item() for a in params.values()))
            print(json.dumps({"stage": si, "set": st["name"], "step": t, "lr": round(lr, 5),
                              "xent_ema": round(run, 4), "val_err_pct": round(ve, 2), "w_norm": round(wn, 3)}))
            if st["patience"] is not None:
                if ve < best[0] - 0.05:
                    best, bad = (ve, {k: mx.array(a) for k, a in params.items()}, t), 0
                else:
                    bad += 1
                    if bad >= st["patience"]:
                        print(json.dumps({"stage": si, "event": "early_stop", "step": t, "best_step": best[2]}))
                        break
    if st["patience"] is not None and best[1] is not None:
        params = best[1]
        diff = max(mx.max(mx.abs(params[k] - best[1][k])).item() for k in params)
        print(f"# audit: restored step {best[2]} weights, max|w-w_best|={diff:.1e}, "
              f"val err {err_pct(params, Xv, yv):.2f}% vs majority {majority:.1f}%")
print(f"# final: val err {err_pct(params, Xv, yv):.2f}%  train err (mixed) {err_pct(params, Xh, yh):.2f}%")
