"""Surveyor's point sets: estimate the fenced area (convex hull area) of a
blast-monitoring site from an unordered, variable-size set of GPS pegs.
Set encoder: shared per-peg MLP, pooling by multi-head attention onto one
learned seed with a padding mask, rho head. Two stages (small sets, then
larger sets), AdamW under a linear warm-up from 0 then cosine."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

MAXN = 40
rng = np.random.default_rng(7)


def hull_area(p):
    pts = sorted(map(tuple, p))
    def cross(o, a, b):
        return (a[0]-o[0])*(b[1]-o[1]) - (a[1]-o[1])*(b[0]-o[0])
    lo, hi = [], []
    for q in pts:
        while len(lo) >= 2 and cross(lo[-2], lo[-1], q) <= 0:
            lo.pop()
        lo.append(q)
    for q in reversed(pts):
        while len(hi) >= 2 and cross(hi[-2], hi[-1], q) <= 0:
            hi.pop()
        hi.append(q)
    h = np.array(lo[:-1] + hi[:-1])
    x, y = h[:, 0], h[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))


def make_sets(n, lo, hi):
    X = np.zeros((n, MAXN, 2), np.float32)
    M = np.zeros((n, MAXN), np.float32)
    y = np.zeros((n,), np.float32)
    for i in range(n):
        k = rng.integers(lo, hi + 1)
        sx, sy = rng.uniform(0.3, 1.0, 2)
        ang = rng.uniform(0, np.pi)
        p = rng.normal(size=(k, 2)) * [sx, sy]
        c, s = np.cos(ang), np.sin(ang)
        p = p @ np.array([[c, -s], [s, c]])
        X[i, :k] = p
        M[i, :k] = 1.0
        y[i] = np.log(hull_area(p))
    return mx.array(X), mx.array(M), mx.array(y)


class PegSetNet(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.phi = nn.Sequential(nn.Linear(2, d), nn.GELU(), nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.seed = mx.random.normal((1, 1, d)) * 0.1
        self.attn = nn.MultiHeadAttention(d, heads)
        self.rho = nn.Sequential(nn.Linear(d + 1, d), nn.GELU(), nn.Linear(d, 1))

    def __call__(self, x, m):
        h = self.phi(x)
        bias = mx.where(m[:, None, None, :] > 0, 0.0, -1e9).astype(h.dtype)
        q = mx.broadcast_to(self.seed, (x.shape[0], 1, h.shape[-1]))
        pooled = self.attn(q, h, h, mask=bias)[:, 0, :]
        logn = mx.log(m.sum(axis=1, keepdims=True))
        return self.rho(mx.concatenate([pooled, logn], axis=-1))[:, 0]


def loss_fn(model, x, m, y):
    return nn.losses.mse_loss(model(x, m), y)


t0 = time.time()
stages = [("small", 8, 16, 160), ("large", 16, 40, 160)]
data = {name: (make_sets(3000, lo, hi), make_sets(500, lo, hi)) for name, lo, hi, _ in stages}
print(f"data ready: {sum(len(v[0][2]) for v in data.values())} train sets, prep {time.time()-t0:.1f}s")

mx.random.seed(3)
model = PegSetNet()
total = sum(s[3] for s in stages)
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, 40),
                              optim.cosine_decay(3e-3, total - 40, 5e-5)], [40])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
step_fn = nn.value_and_grad(model, loss_fn)

(Xs, Ms, ys), _ = data["small"]
_, g = step_fn(model, Xs[:64], Ms[:64], ys[:64])
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0.0]
print(f"grad leaves: {len(tree_flatten(g))}, all-zero: {zero}")

# permutation check on a held-out batch
(Xv, Mv, yv) = data["small"][1]
perm = np.random.default_rng(1).permutation(MAXN)
Xp, Mp = Xv[:, mx.array(perm)], Mv[:, mx.array(perm)]
print(f"permutation gap (untrained): {float(mx.abs(model(Xv[:200], Mv[:200]) - model(Xp[:200], Mp[:200])).max()):.2e}")
print(f"predict-mean baseline val mse: small {float(mx.var(data['small'][1][2])):.4f}  large {float(mx.var(data['large'][1][2])):.4f}")

step = 0
for name, lo, hi, nsteps in stages:
    (X, M, Y), (Xv, Mv, Yv) = data[name]
    print(f"--- stage {name}: {lo}..{hi} pegs per site, {nsteps} steps ---")
    win = []
    for it in range(nsteps):
        idx = mx.array(rng.integers(0, X.shape[0], 64))
        loss, g = step_fn(model, X[idx], M[idx], Y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        win.append(float(loss))
        if step % 40 == 0:
            pv = model(Xv, Mv)
            vmse = float(nn.losses.mse_loss(pv, Yv))
            rel = float(mx.mean(mx.abs(mx.exp(pv - Yv) - 1.0))) * 100
            print(f"step {step:5d} lr {float(opt.learning_rate):.2e} train_mse {np.mean(win):.4f} "
                  f"val_mse {vmse:.4f} area_err {rel:5.1f}%")
            win = []

for name in ("small", "large"):
    Xv, Mv, Yv = data[name][1]
    print(f"final {name}: val_mse {float(nn.losses.mse_loss(model(Xv, Mv), Yv)):.4f}")
Xv, Mv, _ = data["large"][1]
perm = np.random.default_rng(2).permutation(MAXN)
print(f"permutation gap (trained): {float(mx.abs(model(Xv, Mv) - model(Xv[:, mx.array(perm)], Mv[:, mx.array(perm)])).max()):.2e}")
print(f"done in {time.time()-t0:.1f}s")
