import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
T, F, K = 24, 32, 4   # frames, frequency bins, whistle types: up, down, convex, sine

def make_patches(n):
    y = rng.integers(0, K, n)
    t = np.linspace(0, 1, T)
    X = rng.normal(0, 0.6, (n, T, F)).astype(np.float32)
    for i in range(n):
        base = rng.uniform(6, 12); span = rng.uniform(8, 14)
        if y[i] == 0: c = base + span * t
        elif y[i] == 1: c = base + span * (1 - t)
        elif y[i] == 2: c = base + span * 4 * t * (1 - t)
        else: c = base + 0.5 * span + 0.35 * span * np.sin(2 * np.pi * t * rng.uniform(1.5, 2.5))
        c = c + rng.normal(0, 0.7, T)
        bins = np.arange(F)[None, :]
        X[i] += 2.2 * np.exp(-0.5 * ((bins - c[:, None]) / 1.1) ** 2)
    return X, y.astype(np.int32)

t0 = time.time()
Xtr, ytr = make_patches(2400)
Xva, yva = make_patches(800)
mu, sd = Xtr.mean(), Xtr.std()
Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
print(f"patches train={len(ytr)} valid={len(yva)} shape=({T},{F}) prep={time.time()-t0:.1f}s")

# baseline: nearest class centroid on the mean spectrum over time (ignores contour shape)
cent = np.stack([Xtr[ytr == k].mean(axis=1).mean(axis=0) for k in range(K)])
d = ((Xva.mean(axis=1)[:, None, :] - cent[None]) ** 2).sum(-1)
base_acc = (d.argmin(1) == yva).mean()
print(f"baseline nearest-centroid valid acc {100*base_acc:.1f}%  chance {100/K:.1f}%")

class WhistleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.frame = nn.Sequential(nn.Linear(F, 48), nn.GELU(), nn.Linear(48, 32))
        self.gru = nn.GRU(32, 48)
        self.head = nn.Linear(48, K)
    def __call__(self, x):
        h = self.gru(self.frame(x))
        return self.head(h[:, -1, :])

model = WhistleNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"params {n_params}")

def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, label_smoothing=0.05).mean()

loss_and_grad = nn.value_and_grad(model, loss_fn)

ACCUM, MICRO, EPOCHS = 2, 32, 5
steps_per_epoch = len(ytr) // (ACCUM * MICRO)
total = EPOCHS * steps_per_epoch
warm = steps_per_epoch
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)

def evaluate(X, y):
    logits = model(mx.array(X))
    l = nn.losses.cross_entropy(logits, mx.array(y)).mean()
    acc = (mx.argmax(logits, 1) == mx.array(y)).astype(mx.float32).mean()
    return l.item(), acc.item()

vl, va = evaluate(Xva, yva)
print(f"epoch 0 step 0 lr {0.0:.2e} valid_ce {vl:.3f} valid_acc {100*va:.1f}%")
step = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(ytr))
    run, cnt, te = 0.0, 0, time.time()
    for s in range(steps_per_epoch):
        acc_g = None; acc_l = 0.0
        for m in range(ACCUM):
            idx = perm[(s * ACCUM + m) * MICRO:(s * ACCUM + m + 1) * MICRO]
            l, g = loss_and_grad(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
            acc_g = g if acc_g is None else tree_map(lambda a, b: a + b, acc_g, g)
            acc_l = acc_l + l
        acc_g = tree_map(lambda a: a / ACCUM, acc_g)
        if step == 0:
            flat = tree_flatten(acc_g)
            nz = sum(1 for _, v in flat if mx.abs(v).sum().item() > 0)
            print(f"grad audit: {nz}/{len(flat)} leaves nonzero, first update uses lr {sched(mx.array(0)).item():.1e}")
        lr_now = sched(mx.array(step)).item()
        opt.update(model, acc_g)
        mx.eval(model.parameters(), opt.state, acc_l)
        run += acc_l.item() / ACCUM; cnt += 1; step += 1
    vl, va = evaluate(Xva, yva)
    print(f"epoch {ep} step {step} lr {lr_now:.2e} train_ce {run/cnt:.3f} valid_ce {vl:.3f} "
          f"valid_acc {100*va:.1f}% (baseline {100*base_acc:.1f}%) {time.time()-te:.1f}s")
print(f"done valid_acc {100*va:.1f}% vs baseline {100*base_acc:.1f}% total {time.time()-t0:.1f}s")
