"""Klipfisk drying racks: is a salted cod ready to come off the rack?
Eight rack readings per fish, labels from a made-up drying law with 10% of the
grader's calls flipped.  Functional model on a params dict, Adam written by hand
(m, v and a step counter kept in a plain dict), warm-up from lr 0 then two cosine
cycles (warm restart at step 240).  Leg 1 stops at step 200 and writes params and
optimiser state to an .npz; leg 2 loads them into new dicts and finishes.  A
second, uninterrupted run to step 400 is kept as the reference.
"""
import math
import os
import tempfile

import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map, tree_unflatten

FLIP = 0.10
TOTAL, WARM, RESTART, STOP = 400, 30, 240, 200
PEAK = 3e-3


def make_fish(rng, n):
    days = rng.uniform(2, 40, n)
    salt = rng.uniform(0.10, 0.30, n)
    weight = rng.uniform(0.8, 4.0, n)
    wind = rng.uniform(0, 12, n)
    rh = rng.uniform(0.45, 0.95, n)
    temp = rng.uniform(2, 22, n)
    thick = rng.uniform(1.0, 5.0, n)
    sun = rng.uniform(0, 1, n)
    dryness = (0.9 * np.log(days) + 4 * salt + 0.06 * wind - 2.2 * rh
               + 0.04 * temp - 0.35 * thick - 0.25 * np.log(weight) + 0.3 * sun)
    ready = (dryness > 1.6).astype(np.float32)
    flip = rng.uniform(0, 1, n) < FLIP
    ready[flip] = 1 - ready[flip]
    X = np.stack([days, salt, weight, wind, rh, temp, thick, sun], 1).astype(np.float32)
    return X, ready, (dryness > 1.6).astype(np.float32)


rng = np.random.default_rng(2026)
X, y, clean = make_fish(rng, 9000)
mu, sd = X[:7000].mean(0), X[:7000].std(0)
Xs = (X - mu) / sd
Xtr, ytr = mx.array(Xs[:7000]), mx.array(y[:7000])
Xva, yva, cva = mx.array(Xs[7000:]), mx.array(y[7000:]), mx.array(clean[7000:])


def init_params(seed):
    k = mx.random.key(seed)
    k1, k2, k3 = mx.random.split(k, 3)
    return {
        "w1": mx.random.normal((8, 32), key=k1) * math.sqrt(2 / 8),
        "b1": mx.zeros((32,)),
        "w2": mx.random.normal((32, 32), key=k2) * math.sqrt(2 / 32),
        "b2": mx.zeros((32,)),
        "w3": mx.random.normal((32, 1), key=k3) * math.sqrt(1 / 32),
        "b3": mx.zeros((1,)),
    }


def logits(p, x):
    h = mx.maximum(x @ p["w1"] + p["b1"], 0)
    h = mx.maximum(h @ p["w2"] + p["b2"], 0)
    return (h @ p["w3"] + p["b3"]).squeeze(-1)


def bce(p, x, t):
    z = logits(p, x)
    return mx.mean(mx.logaddexp(0.0, z) - t * z)


grad_fn = mx.value_and_grad(bce)


def lr_at(step):
    # step is the number of updates already taken (0 for the first update)
    if step < WARM:
        return PEAK * step / WARM
    if step < RESTART:
        frac = (step - WARM) / (RESTART - WARM)
        return 1e-5 + 0.5 * (PEAK - 1e-5) * (1 + math.cos(math.pi * frac))
    frac = (step - RESTART) / (TOTAL - RESTART)
    return 1e-5 + 0.5 * (0.5 * PEAK - 1e-5) * (1 + math.cos(math.pi * frac))


def new_state(params):
    return {"t": 0,
            "m": tree_map(mx.zeros_like, params),
            "v": tree_map(mx.zeros_like, params)}


def adam_step(params, grads, st, lr, b1=0.9, b2=0.999, eps=1e-8):
    st["t"] += 1
    t = st["t"]
    st["m"] = tree_map(lambda m, g: b1 * m + (1 - b1) * g, st["m"], grads)
    st["v"] = tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, st["v"], grads)
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    return tree_map(lambda p, m, v: p - lr * (m / c1) / (mx.sqrt(v / c2) + eps),
                    params, st["m"], st["v"])


def accuracy(p, x, t):
    return float(mx.mean(((logits(p, x) > 0).astype(mx.float32) == t)))


def run(params, st, start, stop, order_seed, log):
    order = np.random.default_rng(order_seed)
    for _ in range(start):           # replay the draws of the steps already done
        order.integers(0, 7000, 64)
    for s in range(start, stop):
        idx = mx.array(order.integers(0, 7000, 64))
        lr = lr_at(st["t"])
        loss, g = grad_fn(params, Xtr[idx], ytr[idx])
        params = adam_step(params, g, st, lr)
        mx.eval(params, st["m"], st["v"])
        if log and ((s + 1) % 20 == 0 or s == start):
            print(f"step {s+1:3d} lr {lr:.2e} bce {float(loss):.4f} "
                  f"val_bce {float(bce(params, Xva, yva)):.4f} "
                  f"val_acc {accuracy(params, Xva, yva):.3f} adam_t {st['t']}")
    return params, st


print(f"klipfisk readiness: 7000 train / 2000 val fish, {FLIP:.0%} grader flips")
params = init_params(11)
st = new_state(params)
params, st = run(params, st, 0, STOP, order_seed=5, log=True)

with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "rack_leg1.npz")
    flat = {f"p.{k}": v for k, v in tree_flatten(params)}
    flat.update({f"m.{k}": v for k, v in tree_flatten(st["m"])})
    flat.update({f"v.{k}": v for k, v in tree_flatten(st["v"])})
    flat["t"] = mx.array(st["t"])
    mx.savez(path, **flat)
    del params, st
    blob = mx.load(path)
resumed_p = tree_unflatten([(k[2:], v) for k, v in blob.items() if k.startswith("p.")])
resumed_st = {
    "t": int(blob["t"].item()),
    "m": tree_unflatten([(k[2:], v) for k, v in blob.items() if k.startswith("m.")]),
    "v": tree_unflatten([(k[2:], v) for k, v in blob.items() if k.startswith("v.")]),
}
print(f"leg 1 written and reloaded: adam_t {resumed_st['t']}, "
      f"val_bce {float(bce(resumed_p, Xva, yva)):.4f}")
params, st = run(resumed_p, resumed_st, STOP, TOTAL, order_seed=5, log=True)

ref_p = init_params(11)
ref_p, ref_st = run(ref_p, new_state(ref_p), 0, TOTAL, order_seed=5, log=False)
ref_flat = dict(tree_flatten(ref_p))
diff = max(float(mx.max(mx.abs(v - ref_flat[k]))) for k, v in tree_flatten(params))
print(f"uninterrupted reference: adam_t {ref_st['t']} val_acc {accuracy(ref_p, Xva, yva):.3f} "
      f"| max |w_resumed - w_reference| = {diff:.3e}")
maj = float(mx.maximum(mx.mean(yva), 1 - mx.mean(yva)))
print(f"final val_acc {accuracy(params, Xva, yva):.3f} | agreement with unflipped law "
      f"{accuracy(params, Xva, cva):.3f} | majority baseline {maj:.3f} | "
      f"ceiling about {1 - FLIP:.2f}")
