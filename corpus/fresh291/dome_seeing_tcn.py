import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

# Observatory dome: forecast the mirror-minus-air temperature difference (C)
# for the next 6 ten-minute steps from the last 36 steps of 4 logger channels.
rng = np.random.default_rng(7)
LOOK, HOR, NIGHTS, STEPS = 36, 6, 90, 144

def night(r):
    t = np.arange(STEPS)
    air = 8 - 5 * t / STEPS + 0.6 * np.sin(t / 9 + r.uniform(0, 6)) + r.normal(0, .15, STEPS).cumsum() * .05
    fan = (r.uniform(size=STEPS) < .02).astype(float)
    fan = np.convolve(fan, np.ones(12), "same").clip(0, 1)
    wind = np.abs(3 + r.normal(0, 1, STEPS).cumsum() * .1)
    mirror = np.empty(STEPS); mirror[0] = air[0] + r.uniform(1, 3)
    for i in range(1, STEPS):
        k = .04 + .08 * fan[i] + .01 * wind[i]
        mirror[i] = mirror[i - 1] + k * (air[i] - mirror[i - 1])
    dT = mirror - air + r.normal(0, .05, STEPS)
    return np.stack([dT, air, fan, wind], 1)

data = [night(rng) for _ in range(NIGHTS)]
X, Y = [], []
for d in data:
    for s in range(0, STEPS - LOOK - HOR, 4):
        X.append(d[s:s + LOOK]); Y.append(d[s + LOOK:s + LOOK + HOR, 0])
X, Y = np.array(X, np.float32), np.array(Y, np.float32)
n_tr = int(len(X) * 70 / 90)
Xtr, Ytr, Xva, Yva = X[:n_tr], Y[:n_tr], X[n_tr:], Y[n_tr:]
mu, sd = Xtr.reshape(-1, 4).mean(0), Xtr.reshape(-1, 4).std(0) + 1e-6
ymu, ysd = Ytr.mean(), Ytr.std()
norm = lambda a: (a - mu) / sd
Xtr_n, Xva_n = mx.array(norm(Xtr)), mx.array(norm(Xva))
Ytr_n = mx.array((Ytr - ymu) / ysd)
print(f"windows train={len(Xtr)} val={len(Xva)}  target mean={ymu:.3f}C sd={ysd:.3f}C")

class CausalBlock(nn.Module):
    def __init__(self, ch, dil):
        super().__init__()
        self.pad = 2 * dil
        self.conv = nn.Conv1d(ch, ch, 3, dilation=dil)
        self.norm = nn.LayerNorm(ch)
    def __call__(self, x):
        h = mx.pad(x, [(0, 0), (self.pad, 0), (0, 0)])
        return x + nn.gelu(self.norm(self.conv(h)))

class DomeTCN(nn.Module):
    def __init__(self, ch=16):
        super().__init__()
        self.inp = nn.Linear(4, ch)
        self.blocks = [CausalBlock(ch, d) for d in (1, 2, 4, 8)]
        self.head = nn.Linear(ch, HOR)
    def __call__(self, x):
        h = self.inp(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h[:, -1])

EPOCHS, BS, RESUME_AT = 8, 128, 4
steps_per_epoch = (len(Xtr) + BS - 1) // BS
warm = optim.linear_schedule(0.0, 2e-3, steps_per_epoch * 2)
cos = optim.cosine_decay(2e-3, steps_per_epoch * (EPOCHS - 2), 1e-5)
sched = optim.join_schedules([warm, cos], [steps_per_epoch * 2])

def make():
    m = DomeTCN(); mx.eval(m.parameters())
    return m, optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")

def val_metrics(m):
    p = np.array(m(Xva_n)) * ysd + ymu
    return np.sqrt(((p - Yva) ** 2).mean(0))

persist = np.sqrt(((Xva[:, -1:, 0] - Yva) ** 2).mean(0))
slope = Xva[:, -1, 0] - Xva[:, -2, 0]
drift = Xva[:, -1:, 0] + slope[:, None] * np.arange(1, HOR + 1)
drift_rmse = np.sqrt(((drift - Yva) ** 2).mean(0))
print("baseline persistence RMSE by lead:", " ".join(f"{v:.3f}" for v in persist))
print("baseline drift RMSE by lead:      ", " ".join(f"{v:.3f}" for v in drift_rmse))

ckpt_dir = tempfile.mkdtemp()
model, opt = make()
t0 = time.time()
epoch = 0
while epoch < EPOCHS:
    perm = rng.permutation(len(Xtr)); tot = 0.0
    step = nn.value_and_grad(model, loss_fn)
    for i in range(0, len(perm), BS):
        idx = mx.array(perm[i:i + BS])
        l, g = step(model, Xtr_n[idx], Ytr_n[idx])
        opt.update(model, g); mx.eval(model.parameters(), opt.state)
        tot += l.item() * len(idx)
    epoch += 1
    if epoch % 4 == 0 or epoch == 1:
        r = val_metrics(model)
        print(f"epoch {epoch:2d} lr={opt.learning_rate.item():.2e} train_huber={tot/len(perm):.4f} "
              f"val_rmse lead1={r[0]:.3f} lead6={r[-1]:.3f} mean={r.mean():.3f}")
    if epoch == RESUME_AT:
        model.save_weights(os.path.join(ckpt_dir, "w.safetensors"))
        mx.save_safetensors(os.path.join(ckpt_dir, "o.safetensors"), dict(tree_flatten(opt.state)))
        print(f"checkpoint written after epoch {epoch}; restarting the process state from it")
        model, opt = make()
        model.load_weights(os.path.join(ckpt_dir, "w.safetensors"))
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt_dir, "o.safetensors")).items()))
        r = val_metrics(model)
        print(f"resumed at step {opt.step.item()} lr={opt.learning_rate.item():.2e} val_rmse mean={r.mean():.3f}")

r = val_metrics(model)
print("final model RMSE by lead:         ", " ".join(f"{v:.3f}" for v in r))
print(f"mean RMSE model={r.mean():.3f} persistence={persist.mean():.3f} drift={drift_rmse.mean():.3f}  "
      f"skill vs persistence={1 - r.mean()/persist.mean():.2%}  time={time.time()-t0:.1f}s")
