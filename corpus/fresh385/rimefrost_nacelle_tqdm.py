import math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
mx.random.seed(0)
from tqdm import tqdm

# wind-turbine SCADA windows: 48 ten-second samples of (power residual, rotor rpm residual, nacelle vibration)
# classes: 0 normal, 1 blade icing, 2 pitch drift
rng = np.random.default_rng(7)
L = 48
def make(n):
    y = rng.choice(3, size=n, p=[0.6, 0.25, 0.15])
    t = np.arange(L) / L
    x = rng.normal(0, 0.8, size=(n, L, 3)).astype(np.float32)
    onset = rng.uniform(0.1, 0.6, size=n)
    ramp = np.clip((t[None, :] - onset[:, None]) * 3, 0, 1)
    ice = y == 1
    x[ice, :, 0] -= 0.45 * ramp[ice]
    x[ice, :, 2] += 0.4 * ramp[ice] * np.sin(2 * math.pi * 9 * t)[None, :]
    pit = y == 2
    x[pit, :, 1] += 0.35 * ramp[pit]
    x[pit, :, 0] -= 0.3 * ramp[pit]
    return mx.array(x), mx.array(y.astype(np.int32))

Xtr, Ytr = make(4000)
Xva, Yva = make(1000)

class IceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(3, 12, 5, padding=2)
        self.c2 = nn.Conv1d(12, 16, 5, stride=2, padding=2)
        self.c3 = nn.Conv1d(16, 16, 3, stride=2, padding=1)
        self.head = nn.Linear(16, 3)
    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        return self.head(h.mean(axis=1))

model = IceNet()
mx.eval(model.parameters())
epochs, bs = 8, 100
steps_per_epoch = Xtr.shape[0] // bs
warm = steps_per_epoch
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-3, warm),
                              optim.cosine_decay(3e-3, epochs * steps_per_epoch - warm, 5e-5)], [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, label_smoothing=0.1).mean()

vg = nn.value_and_grad(model, loss_fn)

def evaluate():
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva).mean()
    pred = logits.argmax(axis=1)
    acc = (pred == Yva).astype(mx.float32).mean()
    ice_rec = ((pred == 1) & (Yva == 1)).sum() / (Yva == 1).sum()
    return ce.item(), 100 * acc.item(), 100 * ice_rec.item()

majority = 100 * (np.array(Yva) == 0).mean()
tqdm.write(f"windows train={Xtr.shape[0]} valid={Xva.shape[0]} shape={tuple(Xtr.shape[1:])} majority-class acc={majority:.1f}%")
ce0, acc0, rec0 = evaluate()
tqdm.write(f"untrained: val_ce={ce0:.3f} val_acc={acc0:.1f}% ice_recall={rec0:.1f}%")

t0 = time.time()
outer = tqdm(range(1, epochs + 1), desc="epochs", unit="ep", position=0, file=sys.stderr)
for ep in outer:
    perm = mx.array(np.random.default_rng(ep).permutation(Xtr.shape[0]))
    bar = tqdm(range(steps_per_epoch), desc=f"ep {ep:02d}", leave=False, position=1, mininterval=0.2, file=sys.stderr)
    run = 0.0
    for i in bar:
        idx = perm[i * bs:(i + 1) * bs]
        lr_used = float(sched(opt.step))
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        run = 0.9 * run + 0.1 * loss.item() if i else loss.item()
        bar.set_postfix(loss=f"{run:.3f}", lr=f"{lr_used:.2e}")
    bar.close()
    ce, acc, rec = evaluate()
    outer.set_postfix(val_acc=f"{acc:.1f}%", val_ce=f"{ce:.3f}")
    tqdm.write(f"ep {ep:02d}/{epochs}  train_ls_ce={run:.4f}  val_ce={ce:.4f}  val_acc={acc:.2f}%  ice_recall={rec:.1f}%  lr={float(sched(opt.step)):.2e}  [{time.time()-t0:.1f}s]")
outer.close()
tqdm.write(f"final: val_acc={acc:.2f}% (majority {majority:.1f}%), ice_recall={rec:.1f}%, {time.time()-t0:.1f}s")
