"""Letterpress shop: predict ink film thickness (microns) from press settings.
Mixed precision: fp32 master weights, forward/backward in bfloat16, fp32 Adam update."""
import time
import numpy as np
import mlx.core as mx
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(11)
N, NT = 9000, 1500
def make(n):
    roller = rng.uniform(0.5, 3.0, n)      # roller pressure
    temp = rng.uniform(15, 32, n)          # shop temperature C
    tack = rng.uniform(8, 20, n)           # ink tack
    speed = rng.uniform(400, 1600, n)      # impressions/hour
    paper = rng.integers(0, 2, n)          # cotton (1) or wood pulp (0)
    y = 1.2 + 0.9 * np.log(roller) + 0.04 * (temp - 22) - 0.05 * (tack - 14) \
        + 0.3 * np.sin(speed / 300.0) + 0.25 * paper + rng.normal(0, 0.08, n)
    X = np.stack([roller, temp, tack, speed, paper], 1).astype(np.float32)
    return X, y.astype(np.float32)
Xtr, ytr = make(N); Xte, yte = make(NT)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = (Xtr - mu) / sd; Xte = (Xte - mu) / sd
ym, ys = ytr.mean(), ytr.std()

def init(din, h):
    k = mx.random.split(mx.random.key(3), 3)
    s = lambda fi: (1.0 / fi) ** 0.5
    return {"w1": mx.random.normal((din, h), key=k[0]) * s(din), "b1": mx.zeros((h,)),
            "w2": mx.random.normal((h, h), key=k[1]) * s(h), "b2": mx.zeros((h,)),
            "w3": mx.random.normal((h, 1), key=k[2]) * s(h), "b3": mx.zeros((1,))}

def forward(p, x):
    h = mx.maximum(x @ p["w1"] + p["b1"], 0)
    h = mx.maximum(h @ p["w2"] + p["b2"], 0)
    return (h @ p["w3"] + p["b3"]).squeeze(-1)

def loss_fn(p16, x16, y):
    pred = forward(p16, x16).astype(mx.float32)   # reduce in fp32
    return mx.mean((pred - y) ** 2)

master = init(5, 192)
opt = optim.Adam(learning_rate=2e-3)
opt.init(master)
vg = mx.value_and_grad(loss_fn)
Xte_m = mx.array(Xte, dtype=mx.bfloat16)

def test_mae(p):
    p16 = tree_map(lambda a: a.astype(mx.bfloat16), p)
    pred = forward(p16, Xte_m).astype(mx.float32) * ys + ym
    return float(mx.mean(mx.abs(pred - mx.array(yte))))

print(f"rows train={N} test={NT}; predict-mean MAE {np.mean(np.abs(yte - ym)):.3f} um; noise sd 0.080 um")
print(f"untrained test MAE {test_mae(master):.3f} um")
t0 = time.time()
bs, epochs, step = 64, 24, 0
for ep in range(1, epochs + 1):
    perm = rng.permutation(N)
    run, cnt = 0.0, 0
    for i in range(0, N - bs + 1, bs):
        idx = perm[i:i + bs]
        x16 = mx.array(Xtr[idx], dtype=mx.bfloat16)
        yb = mx.array((ytr[idx] - ym) / ys)
        p16 = tree_map(lambda a: a.astype(mx.bfloat16), master)   # bf16 working copy
        loss, g16 = vg(p16, x16, yb)
        g32 = tree_map(lambda g: g.astype(mx.float32), g16)       # grads back to fp32
        if step == 0:
            nz = [k for k, g in tree_flatten(g32) if float(mx.abs(g).sum()) == 0.0]
            print(f"first step: {len(tree_flatten(g32))} gradient leaves, dtype {g16['w1'].dtype}, all-zero: {nz}")
        master = opt.apply_gradients(g32, master)
        mx.eval(master, opt.state, loss)
        run += loss.item(); cnt += 1; step += 1
    print(f"epoch {ep} of {epochs} | steps {step} | train mse {run / cnt:.4f} (std units) "
          f"| test MAE {test_mae(master):.3f} um | master dtype {master['w1'].dtype} | {time.time() - t0:.1f}s")
print(f"done in {time.time() - t0:.1f}s")
