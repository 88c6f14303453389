# Avalanche danger level (1..5, ordinal) from snowpack/weather observations.
# CORAL-style ordinal head: one shared score, 4 ordered thresholds, binary CE per threshold.
import time
import numpy as np
import mlx.core as mx
from mlx.utils import tree_map, tree_flatten

rs = np.random.RandomState(11)


def observations(n):
    new_snow = rs.gamma(1.5, 12.0, n)          # cm / 72 h
    wind = rs.gamma(2.0, 6.0, n)               # m/s
    temp_rise = rs.normal(0.0, 4.0, n)         # K change over 24 h
    weak_layer = rs.binomial(1, 0.3, n)        # buried surface hoar present
    slope = rs.uniform(20, 50, n)              # deg
    rain = rs.binomial(1, 0.1, n)
    z = (0.045 * new_snow + 0.06 * wind * (new_snow > 10) + 0.12 * np.maximum(temp_rise, 0)
         + 1.1 * weak_layer + 0.04 * (slope - 30) + 0.9 * rain + rs.logistic(0, 0.35, n))
    level = np.digitize(z, [0.8, 1.7, 2.7, 3.9])  # 0..4
    x = np.stack([np.log1p(new_snow), wind, temp_rise, weak_layer, slope, rain], 1)
    return x.astype(np.float32), level.astype(np.int32)


xtr, ytr = observations(10000)
xte, yte = observations(2500)
m, s = xtr.mean(0), xtr.std(0)
Xtr, Xte = mx.array((xtr - m) / s), mx.array((xte - m) / s)
Ytr, Yte = mx.array(ytr), mx.array(yte)
K = 5


def init(key):
    k1, k2, k3 = mx.random.split(key, 3)
    return {
        "w1": mx.random.normal((6, 48), key=k1) * (2 / 6) ** 0.5,
        "b1": mx.zeros((48,)),
        "w2": mx.random.normal((48, 48), key=k2) * (2 / 48) ** 0.5,
        "b2": mx.zeros((48,)),
        "w3": mx.random.normal((48, 1), key=k3) * 0.1,
        "theta": mx.array([-1.5, -0.5, 0.5, 1.5]),   # ordered thresholds
    }


def scores(p, x):
    h = mx.maximum(x @ p["w1"] + p["b1"], 0)
    h = mx.maximum(h @ p["w2"] + p["b2"], 0)
    return (h @ p["w3"])[:, 0:1] - p["theta"]       # (N, 4) logits of P(level > k)


def loss_fn(p, x, y):
    logits = scores(p, x)
    target = (y[:, None] > mx.arange(K - 1)[None, :]).astype(mx.float32)
    bce = mx.logaddexp(0.0, logits) - target * logits
    return bce.sum(-1).mean()


def predict(p, x):
    return (scores(p, x) > 0).sum(-1)


params = init(mx.random.key(5))
vel = tree_map(mx.zeros_like, params)
grad_fn = mx.value_and_grad(loss_fn)
MOM = 0.9


@mx.compile
def step(p, v, x, y, lr):
    loss, g = grad_fn(p, x, y)
    v = tree_map(lambda vi, gi: MOM * vi + gi, v, g)
    p = tree_map(lambda pi, vi: pi - lr * vi, p, v)
    return loss, p, v


# gradient audit
l0, g0 = grad_fn(params, Xtr[:128], Ytr[:128])
flat = tree_flatten(g0)
nz = sum(1 for _, g in flat if mx.any(g != 0).item())
prior = np.bincount(ytr, minlength=K) / len(ytr)

print(f"Linux 6.1.0 (avalanche-svc)   danger-model   _x86_64_   ({len(xtr)} obs, {len(xte)} test)")
print()
print("avg-cpu:  %grad_leaves  %nonzero   loss0    majority_acc")
print(f"          {len(flat):>12d} {nz:>9d} {l0.item():>7.4f}    {prior.max():.4f}")
print()
print(f"{'Device':<12}{'tps':>8}{'lr':>9}{'train_bce':>11}{'test_bce':>10}{'test_acc':>10}{'within1':>9}{'mae_lvl':>9}{'t_s':>7}")

EPOCHS, BS = 40, 128
nb = len(xtr) // BS
t0 = time.time()
for ep in range(EPOCHS):
    lr_val = 0.02 * 0.5 * (1 + np.cos(np.pi * ep / EPOCHS)) + 5e-4
    lr = mx.array(lr_val, dtype=mx.float32)
    order = mx.array(rs.permutation(len(xtr))[: nb * BS].reshape(nb, BS))
    run = 0.0
    for b in range(nb):
        idx = order[b]
        loss, params, vel = step(params, vel, Xtr[idx], Ytr[idx], lr)
        mx.eval(loss, params, vel)
        run += loss.item()
    te_loss = loss_fn(params, Xte, Yte).item()
    pr = predict(params, Xte)
    acc = (pr == Yte).mean().item()
    within = (mx.abs(pr - Yte) <= 1).mean().item()
    mae = mx.abs(pr - Yte).astype(mx.float32).mean().item()
    dt = time.time() - t0
    print(f"{'epoch' + str(ep + 1).zfill(2):<12}{nb / max(dt, 1e-9) * (ep + 1):>8.1f}{lr_val:>9.4f}{run / nb:>11.4f}{te_loss:>10.4f}{acc:>10.4f}{within:>9.4f}{mae:>9.4f}{dt:>7.2f}")

pr = np.array(predict(params, Xte))
print()
print(f"{'Device':<12}" + "".join(f"{'L' + str(k + 1) + '_recall':>11}" for k in range(K)))
print(f"{'summary':<12}" + "".join(f"{(pr[yte == k] == k).mean():>11.4f}" for k in range(K)))
th = np.array(params["theta"])
th_txt = ", ".join(f"{t:.3f}" for t in th)
print(f"thresholds ordered: {bool(np.all(np.diff(th) > 0))}  theta=[{th_txt}]")
