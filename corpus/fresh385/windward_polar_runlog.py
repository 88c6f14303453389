import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
mx.random.seed(0)

BARS = " ▁▂▃▄▅▆▇█"
class RunLog:
    """offline run tracker: keeps history in memory, prints it once at the end"""
    def __init__(self, name):
        self.name, self.hist, self.summary = name, {}, {}
        print(f"runlog: Tracking run offline as '{name}' (nothing is uploaded)")
    def log(self, **kv):
        for k, v in kv.items():
            self.hist.setdefault(k, []).append(float(v)); self.summary[k] = float(v)
    def finish(self):
        print("runlog:\nrunlog: Run history:")
        w = max(len(k) for k in self.hist)
        for k, v in sorted(self.hist.items()):
            a = np.array(v); idx = np.linspace(0, len(a) - 1, min(len(a), 40)).astype(int); a = a[idx]
            lo, hi = a.min(), a.max()
            s = "".join(BARS[1 + int(7 * (x - lo) / (hi - lo + 1e-12))] for x in a)
            print(f"runlog: {k:>{w}} {s}")
        print("runlog:\nrunlog: Run summary:")
        for k, v in sorted(self.summary.items()):
            print(f"runlog: {k:>{w}} {v:.5g}")
        print(f"runlog:\nrunlog: Synced 0 files for '{self.name}' (offline)")

# sailing-yacht performance: boat speed (knots) from true wind speed/angle, heel, wave height, sail plan
rng = np.random.default_rng(21)
def polar(tws, twa, heel, hs, kite):
    twa_r = np.radians(twa)
    base = 1.9 * np.sqrt(tws) * (np.sin(twa_r) ** 0.6) * (1 - 0.25 * np.cos(twa_r) ** 2)
    base *= 1 + 0.18 * kite * (twa > 100)
    return base - 0.02 * np.maximum(heel - 18, 0) ** 1.3 - 0.35 * hs
def make(n, sim):
    tws = rng.uniform(4, 24, n); twa = rng.uniform(35, 175, n); hs = rng.uniform(0, 2.5, n)
    heel = np.clip(0.9 * tws * np.cos(np.radians(twa)) ** 2 + rng.normal(0, 2, n), 0, 35); kite = rng.random(n) < 0.5
    y = polar(tws, twa, heel, hs, kite)
    if sim: y = y + rng.normal(0, 0.15, n)
    else: y = 0.93 * y - 0.2 + rng.normal(0, 0.35, n)     # the real boat: fouled hull, crew, leeway
    X = np.stack([tws / 24, np.cos(np.radians(twa)), np.sin(np.radians(twa)), heel / 35, hs / 2.5, kite * 1.0], 1)
    return mx.array(X.astype(np.float32)), mx.array(y.astype(np.float32))

Xs, Ys = make(12000, True)
Xr, Yr = make(900, False); Xrv, Yrv = make(600, False)

model = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
def loss_fn(m, x, y): return nn.losses.huber_loss(m(x).squeeze(-1), y, delta=0.5).mean()
vg = nn.value_and_grad(model, loss_fn)
def rmse(x, y): return mx.sqrt(((model(x).squeeze(-1) - y) ** 2).mean()).item()

run = RunLog("j70-polar-transfer")
print("stage 1: simulator polars (12000 rows), stage 2: logged race data (900 rows, 600 held out)")
print(f"held-out reference: predict the mean speed -> rmse {float(np.std(np.array(Yrv))):.3f} kn")
t0 = time.time(); gstep = 0
for stage, (X, Y, steps, peak, bs) in enumerate([(Xs, Ys, 700, 3e-3, 128), (Xr, Yr, 500, 1e-3, 64)], 1):
    sched = optim.join_schedules([optim.linear_schedule(0.0, peak, 50), optim.cosine_decay(peak, steps - 50, peak * 0.02)], [50])
    opt = optim.Adam(learning_rate=sched)
    g = np.random.default_rng(stage)
    for s in range(1, steps + 1):
        idx = mx.array(g.integers(0, X.shape[0], bs))
        lr_used = float(sched(opt.step))
        loss, grads = vg(model, X[idx], Y[idx]); opt.update(model, grads)
        mx.eval(loss, model.parameters(), opt.state); gstep += 1
        if s % 25 == 0:
            run.log(train_huber=loss.item(), lr=lr_used, real_val_rmse_kn=rmse(Xrv, Yrv), stage=stage)
    print(f"stage {stage} finished after {steps} steps ({time.time()-t0:.1f}s)")
run.log(sim_rmse_kn=rmse(Xs[:2000], Ys[:2000]), mean_guess_rmse_kn=float(np.std(np.array(Yrv))), global_step=gstep)
run.finish()
