"""Overnight piste grade (1..5) from groomer/snow readings: cumulative-link ordinal model.

SGDR-style schedule: each cycle warms up linearly from lr = 0, then cosine-decays back to 0;
cycle lengths double. Best validation checkpoint is kept and restored at the end.
"""
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("piste")

rng = np.random.default_rng(11)
K = 5
def make(n):
    air = rng.normal(-6, 4, n)            # deg C at 03:00
    snow_t = air + rng.normal(-1, 1.5, n)
    new_cm = rng.gamma(1.5, 4, n)
    wind = rng.gamma(2.0, 3, n)
    passes = rng.integers(1, 4, n).astype(float)
    tiller = rng.uniform(0.3, 1.0, n)
    hours_since = rng.uniform(0, 8, n)
    z = (0.9 * passes + 1.6 * tiller - 0.12 * np.abs(snow_t + 7) + 0.08 * new_cm
         - 0.09 * wind - 0.15 * hours_since + 0.25 * np.sin(air / 3))
    z = z + rng.logistic(0, 0.35, n)
    X = np.stack([air, snow_t, new_cm, wind, passes, tiller, hours_since], 1)
    return X.astype(np.float32), z

Xtr, ztr = make(20000); Xva, zva = make(4000)
cuts = np.quantile(ztr, [0.12, 0.35, 0.65, 0.88])
ytr = np.searchsorted(cuts, ztr).astype(np.int32); yva = np.searchsorted(cuts, zva).astype(np.int32)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd); Xva = mx.array((Xva - mu) / sd)
ytr = mx.array(ytr); yva = mx.array(yva)
majority = np.bincount(np.array(ytr), minlength=K).argmax()
base_acc = float(np.mean(np.array(yva) == majority)) * 100
base_mae = float(np.mean(np.abs(np.array(yva) - np.median(np.array(ytr)))))

class Ordinal(nn.Module):
    def __init__(self, d_in=7, h=160):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, h), nn.SiLU(), nn.Linear(h, h), nn.SiLU(), nn.Linear(h, 1))
        self.t0 = mx.array([-1.5])
        self.gaps = mx.zeros((K - 2,))

    def thresholds(self):
        return mx.concatenate([self.t0, self.t0 + mx.cumsum(nn.softplus(self.gaps) + 0.05)])

    def __call__(self, x):
        return self.body(x).squeeze(-1)[:, None] - self.thresholds()[None, :]   # logits of P(y > k)

def loss_fn(model, x, y):
    logits = model(x)
    targets = (y[:, None] > mx.arange(K - 1)[None, :]).astype(mx.float32)
    return nn.losses.binary_cross_entropy(logits, targets, with_logits=True, reduction="mean") * (K - 1)

def evaluate(model, x, y):
    logits = model(x)
    nll = loss_fn(model, x, y)
    pred = mx.sum(mx.sigmoid(logits) > 0.5, axis=1)
    acc = mx.mean(pred == y) * 100
    mae = mx.mean(mx.abs(pred - y).astype(mx.float32))
    return nll.item(), acc.item(), mae.item()

mx.random.seed(5)
model = Ordinal()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.0)
step_fn = nn.value_and_grad(model, loss_fn)

cycles = [80, 160, 320, 640]
peak, warm = 0.25, 12
B, patience = 512, 4
best = (float("inf"), None, None)
bad = 0
t0 = time.time()
gstep = 0
n = Xtr.shape[0]
stopped = False
log.info("baseline (majority grade %d): acc %.1f%%  mae %.3f grades", majority + 1, base_acc, base_mae)
for c, L in enumerate(cycles):
    for s in range(L):
        lr = peak * s / warm if s < warm else 0.5 * peak * (1 + math.cos(math.pi * (s - warm) / (L - warm)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, B))
        loss, grads = step_fn(model, Xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        gstep += 1
        if s == 0 and c == 0:
            gn = {k: float(mx.abs(v).sum()) for k, v in tree_flatten(grads)}
            log.info("grad audit: %d tensors, min |g|_1 %.2e (%s)", len(gn), min(gn.values()), min(gn, key=gn.get))
        if (s + 1) % 40 == 0:
            vnll, vacc, vmae = evaluate(model, Xva, yva)
            flag = ""
            if vnll < best[0] - 1e-4:
                best = (vnll, tree_map(lambda a: mx.array(a), model.parameters()), (c, s + 1)); bad = 0; flag = " *"
            else:
                bad += 1
            log.info("cycle %d step %3d/%d lr %.4f | train %.4f | val nll %.4f acc %5.1f%% (base %.1f%%) mae %.3f%s",
                     c, s + 1, L, lr, loss.item(), vnll, vacc, base_acc, vmae, flag)
            if bad >= patience and c >= 2:
                log.warning("no val improvement for %d checks; stopping in cycle %d", bad, c)
                stopped = True
                break
    if stopped:
        break

model.update(best[1])
mx.eval(model.parameters())
vnll, vacc, vmae = evaluate(model, Xva, yva)
log.info("restored best from cycle %d step %d: val nll %.4f acc %.1f%% mae %.3f | thresholds %s | %d steps, %.1fs",
         best[2][0], best[2][1], vnll, vacc, vmae, [round(float(t), 2) for t in np.array(model.thresholds())], gstep, time.time() - t0)
