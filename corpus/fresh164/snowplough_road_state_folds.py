"""Winter road maintenance: classify road surface state seen by a snowplough's sensors.

classes: 0 dry, 1 wet, 2 slush, 3 packed snow, 4 black ice
features: air temp, surface temp, dew point spread, friction reading, tyre noise dB,
          camera brightness, salt applied (kg/km), hours since last pass
3-fold cross-validation; SGD+momentum with cosine warm restarts; early stopping with restore.
"""
import logging, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s", level=logging.INFO, datefmt="%H:%M:%S")
log = logging.getLogger("plough")

rng = np.random.default_rng(2026)
N = 6000
air = rng.normal(-3, 5, N)
surf = air + rng.normal(-1, 2, N)
spread = np.abs(rng.normal(2, 1.5, N))
salt = rng.choice([0, 10, 20], N, p=[0.4, 0.35, 0.25]).astype(float)
hours = rng.exponential(3, N)
snowing = rng.uniform(size=N) < 0.35
eff = surf + 0.12 * salt                        # salt lowers the freezing point
label = np.zeros(N, int)
wet = (spread < 2.0) | snowing
label[wet & (eff > 1)] = 1
label[snowing & (eff <= 1) & (eff > -2)] = 2
label[snowing & (eff <= -2)] = 3
label[(~snowing) & (spread < 1.2) & (eff <= 0) & (eff > -8)] = 4
friction = np.array([0.8, 0.6, 0.4, 0.3, 0.12])[label] + rng.normal(0, 0.07, N)
noise_db = np.array([68, 74, 71, 64, 66])[label] + rng.normal(0, 3, N)
bright = np.array([0.3, 0.25, 0.6, 0.85, 0.35])[label] + rng.normal(0, 0.1, N)
flip = rng.uniform(size=N) < 0.04                # mislabelled patrol logs
label[flip] = rng.integers(0, 5, flip.sum())
X = np.stack([air, surf, spread, friction, noise_db, bright, salt, hours], 1)
X = ((X - X.mean(0)) / X.std(0)).astype(np.float32)
folds = rng.permutation(N) % 3

class RoadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(8, 48)
        self.norm = nn.LayerNorm(48)
        self.hid = nn.Linear(48, 48)
        self.cls = nn.Linear(48, 5)
    def __call__(self, x):
        h = nn.gelu(self.norm(self.inp(x)))
        return self.cls(nn.gelu(self.hid(h)))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def accuracy(m, x, y):
    return float(mx.mean(mx.argmax(m(x), -1) == y)) * 100

EPOCHS, CYCLE, BS = 24, 8, 100
summary = []
for fold in range(3):
    tr = np.where(folds != fold)[0]; va = np.where(folds == fold)[0]
    Xtr, ytr = mx.array(X[tr]), mx.array(label[tr])
    Xva, yva = mx.array(X[va]), mx.array(label[va])
    majority = np.bincount(label[tr]).argmax()
    base = float(np.mean(label[va] == majority)) * 100
    mx.random.seed(fold)
    model = RoadNet(); mx.eval(model.parameters())
    steps_per_epoch = len(tr) // BS
    sched = optim.cosine_decay(0.08, CYCLE * steps_per_epoch, 0.002)
    opt = optim.SGD(learning_rate=lambda s: sched(s % (CYCLE * steps_per_epoch)), momentum=0.9, nesterov=True)
    vg = nn.value_and_grad(model, loss_fn)
    _, g = vg(model, Xtr[:256], ytr[:256])
    dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).max()) == 0]
    log.info("fold %d audit: %d tensors, zero-grad tensors: %s, majority-class acc %.1f%%",
             fold, len(tree_flatten(g)), dead or "none", base)
    best, best_ep, best_w, patience = 1e9, -1, None, 0
    print(f"  fold {fold} | ep | lr      | train_xent | val_xent | val_acc")
    for ep in range(EPOCHS):
        perm = mx.array(rng.permutation(len(tr)))
        tot = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            loss, grads = vg(model, Xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss)
        vx = float(loss_fn(model, Xva, yva)); va_acc = accuracy(model, Xva, yva)
        print(f"       {fold} | {ep:2d} | {float(opt.learning_rate):.5f} | {tot/steps_per_epoch:10.4f} | {vx:8.4f} | {va_acc:5.1f}%")
        if vx < best - 1e-4:
            best, best_ep, patience = vx, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
        else:
            patience += 1
            if patience >= 9:
                log.info("fold %d: stopping early at epoch %d", fold, ep)
                break
    model.update(best_w); mx.eval(model.parameters())
    acc = accuracy(model, Xva, yva)
    log.info("fold %d restored epoch %d: val_xent %.4f acc %.1f%% (baseline %.1f%%)", fold, best_ep, best, acc, base)
    summary.append((fold, best_ep, best, acc, base))

print("fold  best_ep  val_xent  acc%   base%")
for f, e, l, a, b in summary:
    print(f"{f:4d}  {e:7d}  {l:8.4f}  {a:5.1f}  {b:5.1f}")
print(f"mean  {'':7s}  {np.mean([s[2] for s in summary]):8.4f}  {np.mean([s[3] for s in summary]):5.1f}  {np.mean([s[4] for s in summary]):5.1f}")
