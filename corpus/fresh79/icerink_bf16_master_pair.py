# Ice rink: surface temperature (C) of the ice 10 minutes after a resurfacer pass,
# regressed from flood water temperature, water volume, brine temperature, arena air
# temperature, humidity and crowd size.  Two models trained in turn from the same seed:
# (A) bf16 compute with float32 master weights, (B) plain float32 reference.
import sys
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(2024)


def rink(n):
    water_t = rng.uniform(50, 70, n)
    vol = rng.uniform(350, 700, n)
    brine = rng.uniform(-11, -6, n)
    air = rng.uniform(8, 18, n)
    rh = rng.uniform(30, 75, n)
    crowd = rng.uniform(0, 8000, n)
    y = (brine * 0.62 + 0.0021 * vol * (water_t / 60) ** 1.4 + 0.05 * (air - 12)
         + 0.9 * np.tanh((rh - 55) / 12) * 0.3 + 0.00006 * crowd - 0.6)
    y = y + rng.normal(0, 0.12, n)
    return np.stack([water_t, vol, brine, air, rh, crowd], 1).astype(np.float32), y.astype(np.float32)


Xa, ya = rink(14000)
Xv, yv = rink(2000)
m, s = Xa.mean(0), Xa.std(0)
ym, ys = ya.mean(), ya.std()
Xa = mx.array((Xa - m) / s); Xv_m = mx.array((Xv - m) / s)
ya = mx.array((ya - ym) / ys)


class IceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.head = nn.Linear(96, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


class Run:
    """Holds one model's config; compute_dtype is the dtype of the forward/backward pass."""

    def __init__(self, label, compute_dtype, epochs=10, bs=128, lr=2e-3):
        self.label, self.dtype, self.epochs, self.bs, self.lr = label, compute_dtype, epochs, bs, lr

    def loss(self, params, model, x, y):
        # cast the float32 master weights to the compute dtype inside the differentiated fn,
        # so the gradient comes back in float32 for the master copy
        model.update(tree_map(lambda p: p.astype(self.dtype), params))
        pred = model(x.astype(self.dtype)).astype(mx.float32)
        return mx.mean(mx.square(pred - y))

    def val_rmse(self, master, model):
        model.update(tree_map(lambda p: p.astype(self.dtype), master))
        p = np.array(model(Xv_m.astype(self.dtype)).astype(mx.float32)) * ys + ym
        return float(np.sqrt(np.mean((p - yv) ** 2)))

    def fit(self):
        mx.random.seed(7)
        model = IceNet()
        master = tree_map(lambda p: p.astype(mx.float32), model.parameters())
        opt = optim.AdamW(learning_rate=self.lr, weight_decay=1e-4)
        opt.init(master)
        gfn = mx.value_and_grad(self.loss)
        order = np.random.default_rng(5)
        n = ya.shape[0]
        rows = [(0, float("nan"), self.val_rmse(master, model), 0.0)]
        t0 = time.perf_counter()
        for ep in range(1, self.epochs + 1):
            perm = order.permutation(n)
            tot, cnt = 0.0, 0
            for i in range(0, n - self.bs + 1, self.bs):
                idx = mx.array(perm[i:i + self.bs])
                loss, g = gfn(master, model, Xa[idx], ya[idx])
                if ep == 1 and i == 0:
                    flat = tree_flatten(g)
                    dts = sorted({str(v.dtype) for _, v in flat})
                    zero = [k for k, v in flat if float(mx.max(mx.abs(v))) == 0.0]
                    sys.stdout.write(f"  [{self.label}] first-step grads: {len(flat)} leaves dtype={dts} zero={zero}\n")
                master = opt.apply_gradients(g, master)
                mx.eval(master, opt.state, loss)
                tot += loss.item(); cnt += 1
            rows.append((ep, tot / cnt, self.val_rmse(master, model), time.perf_counter() - t0))
        return rows, master


print("ice-surface model, 14000 passes train / 2000 valid, target sd %.3f C, reading noise 0.120 C" % ys)
print("predict-mean RMSE on valid: %.4f C" % float(np.std(yv)))
results = {}
for run in (Run("bf16-compute", mx.bfloat16), Run("fp32-reference", mx.float32)):
    print(f"\n== {run.label} (compute {run.dtype}, master float32) ==")
    rows, master = run.fit()
    print(f"  {'epoch':>5} {'train_mse_std':>14} {'valid_rmse_C':>13} {'secs':>6}")
    for ep, tr, va, sec in rows:
        trs = "-" if ep == 0 else f"{tr:.5f}"
        print(f"  {ep:>5} {trs:>14} {va:>13.4f} {sec:>6.1f}")
    md = sorted({str(v.dtype) for _, v in tree_flatten(master)})
    print(f"  master dtypes after training: {md}")
    results[run.label] = rows[-1][2]

gap = results["bf16-compute"] - results["fp32-reference"]
print(f"\nsummary: bf16 {results['bf16-compute']:.4f} C, fp32 {results['fp32-reference']:.4f} C, gap {gap:+.4f} C")
