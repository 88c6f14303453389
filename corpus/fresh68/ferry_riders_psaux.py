# Hourly ferry ridership (counts) regressed with a Poisson log-linear MLP.
# Pure-function params dict, hand-written RMSprop inside an mx.compile'd step.
# Silent while training; the report imitates `ps aux` output at the end.
import time, math
import numpy as np
import mlx.core as mx
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(11)

def make(n):
    hour = rng.integers(0, 24, n)
    dow = rng.integers(0, 7, n)
    temp = rng.normal(15, 7, n)
    rain = rng.exponential(1.0, n) * (rng.random(n) < 0.3)
    weekend = (dow >= 5).astype(float)
    commute = np.exp(-((hour - 8) ** 2) / 3.0) + 0.8 * np.exp(-((hour - 17.5) ** 2) / 4.0)
    leisure = np.exp(-((hour - 14) ** 2) / 10.0)
    rate = np.exp(1.0 + 2.2 * (1 - weekend) * commute + (1.0 + 0.8 * weekend) * leisure
                  + 0.03 * (temp - 15) - 0.5 * np.log1p(rain))
    y = rng.poisson(rate)
    feats = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                      np.sin(4 * np.pi * hour / 24), np.cos(4 * np.pi * hour / 24),
                      weekend, (temp - 15) / 7, np.log1p(rain)], 1).astype(np.float32)
    return feats, y.astype(np.float32), rate

Xtr, Ytr, _ = make(8000)
Xva, Yva, Rva = make(2000)
Xtr, Ytr, Xva, Yva = map(mx.array, (Xtr, Ytr, Xva, Yva))

def init(k):
    k1, k2, k3 = mx.random.split(k, 3)
    return {"w1": mx.random.normal((7, 48), key=k1) * (1 / math.sqrt(7)), "b1": mx.zeros((48,)),
            "w2": mx.random.normal((48, 48), key=k2) * (1 / math.sqrt(48)), "b2": mx.zeros((48,)),
            "w3": mx.random.normal((48, 1), key=k3) * 0.01, "b3": mx.array([math.log(float(Ytr.mean()))])}

def log_rate(p, x):
    h = mx.tanh(x @ p["w1"] + p["b1"])
    h = mx.tanh(h @ p["w2"] + p["b2"])
    return (h @ p["w3"] + p["b3"]).squeeze(-1)

def poisson_nll(p, x, y):
    lr_ = log_rate(p, x)
    return mx.mean(mx.exp(lr_) - y * lr_)

vg = mx.value_and_grad(poisson_nll)

@mx.compile
def step(p, sq, x, y, lr):
    loss, g = vg(p, x, y)
    sq = tree_map(lambda s, gi: 0.9 * s + 0.1 * gi * gi, sq, g)
    p = tree_map(lambda w, gi, s: w - lr * gi / (mx.sqrt(s) + 1e-8), p, g, sq)
    return loss, p, sq

params = init(mx.random.key(5))
sq = tree_map(mx.zeros_like, params)
_, g0 = vg(params, Xtr[:100], Ytr[:100])
g0f = tree_flatten(g0)
zero_leaves = [k for k, v in g0f if mx.all(v == 0).item()]

def deviance(p, x, y):
    mu = mx.exp(log_rate(p, x))
    term = mx.where(y > 0, y * mx.log(mx.maximum(y, 1e-9) / mu), 0.0) - (y - mu)
    return (2 * mx.mean(term)).item(), mx.mean(mx.abs(mu - y)).item()

const = mx.log(Ytr.mean())
dev_const = (2 * mx.mean(mx.where(Yva > 0, Yva * mx.log(mx.maximum(Yva, 1e-9) / Ytr.mean()), 0.0) - (Yva - Ytr.mean()))).item()

rows = []
t0 = time.time()
BS, EPOCHS = 100, 20
total = EPOCHS * (len(Ytr) // BS)
it = 0
for ep in range(1, EPOCHS + 1):
    order = mx.array(rng.permutation(Ytr.shape[0]))
    run = []
    for i in range(0, Ytr.shape[0], BS):
        idx = order[i:i + BS]
        lr = 3e-3 * 0.5 * (1 + math.cos(math.pi * it / total)) + 5e-5
        loss, params, sq = step(params, sq, Xtr[idx], Ytr[idx], mx.array(lr, dtype=mx.float32))
        mx.eval(loss, params, sq)
        run.append(loss.item()); it += 1
    dv, mae = deviance(params, Xva, Yva)
    rows.append((ep, float(np.mean(run)), dv, mae, lr, time.time() - t0))

oracle = float(np.mean(np.abs(Rva - np.asarray(Yva))))
print("USER       PID %CPU %MEM    VSZ   RSS TTY  STAT START   TIME COMMAND")
print(f"ferry        1  0.0  0.0      0     0 ?    Ss   00:00   0:00 /sbin/data --train=8000 --valid=2000 --mean-riders={float(Ytr.mean()):.2f}")
print(f"ferry        2  0.0  0.0 {len(g0f):>6} {len(zero_leaves):>5} ?    S    00:00   0:00 [gradcheck] leaves={len(g0f)} zero={len(zero_leaves)} {' '.join(zero_leaves) or '-'}")
print(f"ferry        3  0.0  0.0      0     0 ?    S    00:00   0:00 [baseline] valid_deviance={dev_const:.4f} (constant rate)  oracle_mae={oracle:.3f}")
for ep, tr_nll, dv, mae, lr, el in rows:
    cpu = 100.0 * el / max(rows[-1][5], 1e-9)
    print(f"ferry   {1000 + ep:>6} {cpu:>4.1f} {ep * 5.0:>4.1f} {ep * BS:>6} {ep * 80:>5} pts/0 R+   00:00 {int(el) // 60}:{int(el) % 60:02d} "
          f"train epoch={ep:02d} pois_loss_no_logyfact={tr_nll:.4f} valid_dev={dv:.4f} valid_mae={mae:.3f} lr={lr:.2e}")
print(f"ferry   {1100:>6}  0.0  0.0      0     0 ?    Z    00:00   0:00 [train] <defunct> total={rows[-1][5]:.1f}s")
