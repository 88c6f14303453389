"""Oyster-mushroom grow room: flush stage (pinning/button/cup/open-veil/spent) from 8 room readings.
SGDR with cycle length doubling and each new peak at half the previous one; every cycle opens
with a short linear warm-up from 0. The weights at the end of each cycle are written to disk and
the best cycle (by validation accuracy) is loaded back for the final test."""
import math, os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

STAGES = ["pinning", "button", "cup", "open-veil", "spent"]
rng = np.random.default_rng(3890)
def make(n):
    days = rng.uniform(0, 14, n); co2 = rng.normal(900, 250, n); rh = rng.uniform(78, 98, n)
    temp = rng.normal(17, 2.5, n); light = rng.uniform(0, 1, n); flush_no = rng.integers(1, 4, n)
    cap_mm = rng.gamma(2, 10, n); substrate = rng.uniform(0.3, 0.9, n)
    z = (0.42 * days + 0.004 * (co2 - 900) + 0.06 * (temp - 17) * days / 7 - 0.08 * (rh - 88)
         + 0.035 * cap_mm + 0.5 * (flush_no - 2) - 1.2 * substrate + 0.4 * light)
    z = z + rng.logistic(0, 0.35, n)
    y = np.digitize(z, [1.6, 3.2, 4.6, 6.0])
    X = np.stack([days, co2, rh, temp, light, flush_no, np.log1p(cap_mm), substrate], 1)
    return X.astype(np.float32), y.astype(np.int32)
Xtr, ytr = make(8000); Xva, yva = make(1500); Xte, yte = make(1500)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva, Xte = (mx.array((a - mu) / sd) for a in (Xtr, Xva, Xte))
ytr, yva, yte = mx.array(ytr), mx.array(yva), mx.array(yte)

mx.random.seed(11)
model = nn.Sequential(nn.Linear(8, 96), nn.SiLU(), nn.Linear(96, 96), nn.SiLU(), nn.Linear(96, 5))

CYCLES = [150, 300, 600]          # steps per cycle (T_mult = 2)
PEAK0, FLOOR, WARM = 4e-3, 2e-5, 20
def lr_at(t):
    start = 0
    for k, L in enumerate(CYCLES):
        if t < start + L:
            s, peak = t - start, PEAK0 * 0.5 ** k
            if s < WARM:
                return peak * s / WARM, k
            f = (s - WARM) / (L - WARM)
            return FLOOR + 0.5 * (peak - FLOOR) * (1 + math.cos(math.pi * f)), k
        start += L
    return FLOOR, len(CYCLES) - 1

opt = optim.Adam(learning_rate=0.0)
def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")
step_fn = nn.value_and_grad(model, loss_fn)

def evaluate(X, y):
    lg = model(X)
    return nn.losses.cross_entropy(lg, y, reduction="mean").item(), mx.mean(mx.argmax(lg, -1) == y).item()

ckdir = tempfile.mkdtemp(prefix="flush_")
maj = np.bincount(np.array(ytr), minlength=5).argmax()
print("# grow-room flush stage, classes:", ",".join(STAGES))
print(f"# majority-class ({STAGES[maj]}) val accuracy {100*mx.mean(yva == int(maj)).item():.1f}%")
print("step\tcycle\tlr\ttrain_ce\tval_ce\tval_acc_pct\tsecs")
ce, acc = evaluate(Xva, yva)
print(f"0\t0\t{0.0:.2e}\t\t{ce:.4f}\t{100*acc:.2f}\t0.0")

TOTAL, BS, t0 = sum(CYCLES), 128, time.time()
window, snaps, ends = [], [], np.cumsum(CYCLES)
for t in range(TOTAL):
    lr, k = lr_at(t)
    if t > 0 and t in set(ends.tolist()):
        print(f"# warm restart: cycle {k} begins, warm-up from 0 to peak {PEAK0*0.5**k:.1e}")
    opt.learning_rate = lr
    idx = mx.array(rng.integers(0, 8000, BS))
    loss, g = step_fn(model, Xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if (t + 1) % 75 == 0:
        ce, acc = evaluate(Xva, yva)
        print(f"{t+1}\t{k}\t{lr:.2e}\t{np.mean(window):.4f}\t{ce:.4f}\t{100*acc:.2f}\t{time.time()-t0:.1f}")
        window = []
    if (t + 1) in ends:
        path = os.path.join(ckdir, f"cycle{k}.safetensors")
        model.save_weights(path)
        ce, acc = evaluate(Xva, yva)
        snaps.append((acc, k, path))
        print(f"# cycle {k} done at step {t+1}: snapshot written, val acc {100*acc:.2f}%")

best_acc, best_k, best_path = max(snaps)
model.load_weights(best_path)
te_ce, te_acc = evaluate(Xte, yte)
n_par = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"# loaded snapshot of cycle {best_k} (val acc {100*best_acc:.2f}%), {n_par} parameters")
print(f"# test: cross-entropy {te_ce:.4f} nats, accuracy {100*te_acc:.2f}% "
      f"(majority class {100*mx.mean(yte == int(maj)).item():.1f}%)")
